"""The reporter every mode shares: collect -> envelope -> send (or print), within a budget.

The HTTP, JSON, signing and metadata modules are imported lazily (inside the methods), so a mode
pays for them only once it actually reports: `exec` forks its reporter before any of them load.
"""

from __future__ import annotations

import threading
import time

from taskbeacon_agent.config import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_NO_SOURCE,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    Config,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

    from taskbeacon_agent.client import Client
    from taskbeacon_agent.sources import Collected


class Reporter:
    """Collect -> envelope -> send (or print). Shared by all modes."""

    def __init__(self, cfg: Config, mode: str, client: Optional[Client] = None) -> None:
        self.cfg = cfg
        self.mode = mode
        self._builder: Any = None
        self._client = client
        self._print_lock = threading.Lock()
        # Every retry/poll wait goes through here, so a sidecar can cut them short on SIGTERM.
        self.sleep: Callable[[float], None] = time.sleep
        self._tag_errors: List[str] = []
        # What report() is doing, so a budget timeout maps to the right exit code.
        self.phase = "metadata"
        # The ingest's last word on the stop snapshot ("skip": ECS's STOPPED event carries the stop).
        self.stop_hint: Optional[str] = None

    def builder(self) -> Any:
        from taskbeacon_agent import envelope

        if self._builder is None:  # one per process: owns instanceId and the sequence
            self._builder = envelope.EnvelopeBuilder(self.mode)
        return self._builder

    def _sleep(self, delay: float) -> None:
        self.sleep(delay)  # looked up per call: run_loop swaps in an interruptible sleep

    def log(self, msg: str, verbose: bool = False) -> None:
        if self.cfg.quiet or (verbose and not self.cfg.verbose):
            return
        try:
            self.cfg.err.write("taskbeacon-agent: %s\n" % msg)
            self.cfg.err.flush()
        except (OSError, ValueError):
            pass

    def client(self) -> Client:
        from taskbeacon_agent.client import Client, ConfigError, signing_region
        from taskbeacon_agent.credentials import Resolver

        if self._client is None:
            endpoint = self.cfg.env.get("TASKBEACON_ENDPOINT")
            if not endpoint:
                raise ConfigError("TASKBEACON_ENDPOINT is not set")
            self._client = Client(
                endpoint,
                signing_region(endpoint, self.cfg.env),
                Resolver(self.cfg.env),
                timeout=self.cfg.timeout,
                sleep=self._sleep,
            )
        return self._client

    def collect(
        self, deadline: Optional[float], source: Optional[str] = None, with_tags: Optional[bool] = None
    ) -> Collected:
        """Read the metadata; `with_tags` overrides --with-tags (the sidecar polls without tags)."""
        from taskbeacon_agent import sources

        tags = self.cfg.with_tags if with_tags is None else with_tags
        opts = sources.Options(
            with_tags=tags,
            with_stats=self.cfg.with_stats,
            timeout=self.cfg.timeout,
            deadline=deadline,
            sleep=self._sleep,
        )
        collected = sources.collect(self.cfg.env, source or self.cfg.source, opts)
        if tags:
            self._check_tag_errors(collected)
        return collected

    def _check_tag_errors(self, collected: Collected) -> None:
        from taskbeacon_agent.envelope import tag_errors

        errors = tag_errors(collected.task)
        if errors and errors != self._tag_errors:  # once per distinct problem, not every poll
            self.log(
                "--with-tags: the ECS agent could not read tags (%s); the snapshot carries Errors[] "
                "and no tags for those fields. On EC2 the container instance role needs "
                "ecs:ListTagsForResource (or drop --with-tags)" % ", ".join(errors)
            )
        self._tag_errors = errors

    def send(self, collected: Collected, reason: str, deadline: Optional[float]) -> Dict[str, Any]:
        from taskbeacon_agent import envelope

        env = self.builder().build(collected, reason)
        if self.cfg.dry_run:
            import json

            with self._print_lock:
                indent = 2 if self.mode in ("once", "exec") else None
                self.cfg.out.write(json.dumps(env, indent=indent, ensure_ascii=False) + "\n")
                self.cfg.out.flush()
            return env
        client = self.client()
        answer = client.send(envelope.encode(env), deadline)
        # One short line, and only with -v: an accepted report is the normal case, not news.
        stored = answer.get("taskIds") if isinstance(answer, dict) else None
        hint = answer.get("stopReport") if isinstance(answer, dict) else None
        if hint in ("send", "skip"):
            self.stop_hint = hint
        self.log(
            "sent %s snapshot #%d from %s%s"
            % (
                reason,
                env["sequence"],
                collected.source,
                "; stored %d task(s)" % len(stored) if isinstance(stored, list) else "",
            ),
            verbose=True,
        )
        return env

    def report(self, reason: str, budget: float, source: Optional[str] = None) -> int:
        """One collect+send within `budget` seconds; returns an exit code, never raises."""
        from taskbeacon_agent.client import ConfigError, SendError
        from taskbeacon_agent.credentials import CredentialsError
        from taskbeacon_agent.sources import SourceError

        deadline = time.monotonic() + budget
        self.phase = "metadata"
        try:
            if not self.cfg.dry_run:
                self.client()  # configuration errors first, before spending time on metadata
            collected = self.collect(deadline, source)
            self.phase = "send"
            self.send(collected, reason, deadline)
            return EXIT_OK
        except SourceError as exc:
            self.log("no task metadata: %s" % exc)
            return EXIT_NO_SOURCE
        except (ConfigError, CredentialsError) as exc:
            self.log(str(exc))
            return EXIT_CONFIG
        except SendError as exc:
            self.log(str(exc))
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return EXIT_REJECTED
            return EXIT_UNREACHABLE if exc.retryable else EXIT_CONFIG
        except Exception as exc:  # the agent must never take the workload down
            self.log("internal error: %s" % type(exc).__name__)
            return EXIT_INTERNAL

    def timed_out(self) -> int:
        """The exit code when the bounding thread gave up on report(): which phase was still running."""
        if self.phase == "metadata":
            self.log("no task metadata: time budget exhausted while reading it")
            return EXIT_NO_SOURCE
        self.log("API unreachable: time budget exhausted while sending")
        return EXIT_UNREACHABLE


def bounded(fn: Callable[[], int], budget: float, on_timeout: Callable[[], int]) -> int:
    """Run fn in a daemon thread and wait at most `budget` (+ slack): DNS lookups have no timeout."""
    result: List[int] = []
    t = threading.Thread(target=lambda: result.append(fn()), name="taskbeacon-report", daemon=True)
    t.start()
    t.join(budget + 0.25)
    return result[0] if result else on_timeout()
