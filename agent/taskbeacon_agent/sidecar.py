"""`sidecar`: a second container in the task. Reports at start, then only when the task document
changed, plus a keepalive (12-24 h by default); on SIGTERM a final `stop` snapshot, then exit 0."""

from __future__ import annotations

import threading
import time

from taskbeacon_agent import config, loop
from taskbeacon_agent.config import MAX_STOP_BUDGET, Config
from taskbeacon_agent.reporter import Reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from taskbeacon_agent.config import Keepalive
    from taskbeacon_agent.sources import Collected


def run(cfg: Config, stop: Optional[threading.Event] = None, max_cycles: Optional[int] = None) -> int:
    from taskbeacon_agent import sources

    # Forced, else the TMDE the environment announces (None: auto-detect once). Re-detecting every
    # cycle would turn a brief TMDE v4 outage into a fall-back to v3, whose different documents
    # read as false "change"s.
    source = cfg.source or sources.advertised_source(cfg.env)
    return loop.run(cfg, "sidecar", SidecarState(), source, stop, max_cycles)


class SidecarState:
    """One task: send at start, when its fingerprint changes, and as keepalive."""

    # --with-tags makes the ECS agent call ecs:ListTagsForResource on every tagged read: poll /task
    # and read /taskWithTags only for the snapshots sent (start, change, keepalive, stop).
    poll_tags: Optional[bool] = False

    def __init__(self) -> None:
        self.last_fp: Optional[str] = None
        self.last_sent = 0.0
        self.keepalive_after = 0.0  # drawn anew after every snapshot sent
        self.ever_sent = False
        self.last_collected: Optional[Collected] = None

    def cycle(
        self,
        rep: Reporter,
        collected: Collected,
        deadline: float,
        keepalive: Keepalive,
        source: Optional[str],
    ) -> None:
        from taskbeacon_agent import envelope

        if not rep.cfg.with_tags:
            self.last_collected = collected
        fp = envelope.fingerprint(collected)  # of the polled document (no tags with --with-tags)
        reason: Optional[str] = None
        if fp != self.last_fp:
            reason = "change" if self.ever_sent else "start"
        elif time.monotonic() - self.last_sent >= self.keepalive_after:
            reason = "keepalive"
        if reason is not None:
            if rep.cfg.with_tags:
                # Every sent snapshot carries fresh tags (the server keeps old ones when none are sent).
                collected = rep.collect(deadline, source, with_tags=True)
                self.last_collected = collected
            rep.send(collected, reason, deadline)
            self.last_fp, self.last_sent, self.ever_sent = fp, time.monotonic(), True
            self.keepalive_after = config.keepalive_after(keepalive)

    def finish(self, rep: Reporter, cfg: Config, source: Optional[str]) -> None:
        if cfg.stop_report == "never" or (cfg.stop_report == "auto" and rep.stop_hint == "skip"):
            rep.log("no stop snapshot: ECS's STOPPED event reports the stop", verbose=True)
            return
        _send_stop(rep, cfg, source, self.last_collected)


def _send_stop(rep: Reporter, cfg: Config, source: Optional[str], last: Optional[Collected]) -> None:
    """The final snapshot, in a daemon thread joined for at most --stop-budget (+ slack).

    Every HTTP call already has the deadline, but DNS resolution has no timeout: the join is what
    guarantees the process exits before ECS's SIGKILL (30 s after SIGTERM by default).
    """
    budget = min(cfg.stop_budget, MAX_STOP_BUDGET)
    t = threading.Thread(
        target=_send_stop_now, args=(rep, budget, source, last), name="taskbeacon-stop", daemon=True
    )
    t.start()
    t.join(budget + 0.25)
    if t.is_alive():
        rep.log("final stop snapshot not sent: --stop-budget of %gs exhausted" % budget)


def _send_stop_now(rep: Reporter, budget: float, source: Optional[str], last: Optional[Collected]) -> None:
    from taskbeacon_agent.client import SendError
    from taskbeacon_agent.sources import SourceError

    deadline = time.monotonic() + budget
    try:
        try:
            collected = rep.collect(deadline, source)
        except SourceError:
            if last is None:
                return
            collected = last  # the endpoint may already be gone: report what we last saw
        rep.send(collected, "stop", deadline)
    except Exception as exc:
        rep.log(
            "final stop snapshot not sent: %s"
            % (str(exc) if isinstance(exc, SendError) else type(exc).__name__)
        )
