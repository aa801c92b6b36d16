"""The main loop of the long-running modes (sidecar, daemon): poll, let the mode's state decide what
to send, repeat every --interval (jittered) until SIGTERM/SIGINT, then let the state finish."""

from __future__ import annotations

import signal
import threading
import time

from taskbeacon_agent.config import EXIT_CONFIG, EXIT_OK, Config
from taskbeacon_agent.reporter import Reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Protocol

    from taskbeacon_agent.config import Keepalive
    from taskbeacon_agent.sources import Collected

    class State(Protocol):
        """What a long-running mode keeps between cycles (sidecar.SidecarState, daemon.DaemonState)."""

        # None: as --with-tags says; False: poll without tags (the sidecar reads them only to send).
        poll_tags: Optional[bool]

        def cycle(
            self,
            rep: Reporter,
            collected: Collected,
            deadline: float,
            keepalive: Keepalive,
            source: Optional[str],
        ) -> None: ...

        def finish(self, rep: Reporter, cfg: Config, source: Optional[str]) -> None: ...


class Interrupted(Exception):
    """SIGTERM arrived during a retry or poll wait: abandon the cycle, go to the stop snapshot."""


class _Stopper:
    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.event.set()

        for name in ("SIGTERM", "SIGINT"):
            if threading.current_thread() is threading.main_thread():
                signal.signal(getattr(signal, name), handler)


def _jittered(interval: float) -> float:
    # +-10% so a fleet started together does not poll (and post) in lockstep.
    import random

    return max(0.05, interval * random.uniform(0.9, 1.1))  # noqa: S311 (jitter, not crypto)


def run(
    cfg: Config,
    mode: str,
    state: State,
    source: Optional[str],
    stop: Optional[threading.Event] = None,
    max_cycles: Optional[int] = None,
) -> int:
    """Report at start, then whatever `state` decides each cycle; on SIGTERM, `state.finish`.

    `source` is the one the mode keeps for life (None: auto-detect once, then keep what answered).
    """
    from taskbeacon_agent import sources
    from taskbeacon_agent.client import ConfigError, SendError
    from taskbeacon_agent.credentials import CredentialsError

    stopper = _Stopper()
    if stop is None:
        stopper.install()
        stop = stopper.event
    stop_event = stop
    rep = Reporter(cfg, mode)

    def interruptible_sleep(delay: float) -> None:
        # A cycle can retry for up to --budget seconds; SIGTERM must not wait for that (ECS
        # SIGKILLs after its stop timeout, 30 s by default), so waits end as soon as it arrives.
        if stop_event.wait(delay):
            raise Interrupted()

    rep.sleep = interruptible_sleep
    if not cfg.dry_run:
        try:
            rep.client()
        except (ConfigError, CredentialsError) as exc:
            rep.log(str(exc))
            return EXIT_CONFIG
    last_error = ""
    cycles = 0
    while not stop.is_set():
        deadline = time.monotonic() + cfg.budget
        try:
            collected = rep.collect(deadline, source, with_tags=state.poll_tags)
            if source is None:
                source = collected.source
                rep.log("metadata source: %s" % source, verbose=True)
            state.cycle(rep, collected, deadline, cfg.keepalive, source)
            last_error = ""
        except Interrupted:
            break
        except Exception as exc:  # keep running: the next cycle retries (the same source)
            msg = str(exc) if isinstance(exc, (sources.SourceError, SendError)) else type(exc).__name__
            if msg != last_error:  # log each distinct problem once, not every cycle
                rep.log(msg)
                last_error = msg
        cycles += 1
        if max_cycles is not None and cycles >= max_cycles:
            break
        if stop.wait(_jittered(cfg.interval)):
            break
    rep.sleep = time.sleep  # the final snapshot has its own budget; nothing interrupts it
    state.finish(rep, cfg, source)
    return EXIT_OK
