"""Exit codes, defaults and the configuration every mode shares.

Import-light on purpose: `exec` loads this before it execs the workload, so it imports nothing
but `sys` at run time (`typing` alone costs more than the whole exec path may add).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional, Protocol, Tuple, Union

    Keepalive = Union[float, Tuple[float, float]]

    class TextOut(Protocol):
        """Where log lines and --dry-run output go: a text stream, or exec's detach.Relay."""

        def write(self, s: str, /) -> int: ...

        def flush(self) -> None: ...


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_SOURCE = 3
EXIT_CONFIG = 4
EXIT_REJECTED = 5
EXIT_UNREACHABLE = 6
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C) before exec / before the report finished: 128 + SIGINT

# Metadata source names (sources.SOURCES is the same tuple; a test keeps them equal). Here so the
# CLI can check --source without importing the HTTP stack.
SOURCES = ("tmde-v4", "tmde-v3", "tmde-v2", "metadata-file", "introspection")

# ECS sends SIGKILL 30 s after SIGTERM by default (stopTimeout); the stop snapshot must end well before.
MAX_STOP_BUDGET = 25.0

# Keepalive of an unchanged snapshot: a random interval in [12 h, 24 h], drawn anew for every
# interval (docs/decisions/agent.md: EventBridge carries the lifecycle; a keepalive only proves the
# task is still there). A single number means exactly that many seconds.
DEFAULT_KEEPALIVE = (12 * 3600.0, 24 * 3600.0)


def keepalive_after(keepalive: Keepalive) -> float:
    """Seconds until the next keepalive: `keepalive` itself, or uniform in its [low, high] range."""
    if isinstance(keepalive, tuple):
        import random

        low, high = keepalive
        return random.uniform(low, high)  # noqa: S311 (jitter, not crypto)
    return float(keepalive)


# --stop-report: "auto" sends the stop snapshot unless the ingest answered that ECS's STOPPED event
# reaches the inventory (it answers "send" when unsure, and an agent that never heard sends it).
STOP_REPORTS = ("auto", "always", "never")


class Config:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        source: Optional[str] = None,
        with_tags: bool = False,
        with_stats: bool = False,
        dry_run: bool = False,
        budget: float = 2.0,
        timeout: float = 2.0,
        interval: float = 30.0,
        keepalive: Keepalive = DEFAULT_KEEPALIVE,
        stop_budget: float = 5.0,
        stop_report: str = "auto",
        quiet: bool = False,
        verbose: bool = False,
        out: Optional[TextOut] = None,
        err: Optional[TextOut] = None,
    ) -> None:
        self.env = env
        self.source = None if source in (None, "auto") else source
        self.with_tags = with_tags
        self.with_stats = with_stats
        self.dry_run = dry_run
        self.budget = budget
        self.timeout = timeout
        self.interval = interval
        self.keepalive = keepalive
        self.stop_budget = stop_budget
        self.stop_report = stop_report
        self.quiet = quiet
        self.verbose = verbose
        self.out: TextOut = out or sys.stdout
        self.err: TextOut = err or sys.stderr
