"""`daemon`: host mode on EC2 container instances. Reads the ECS agent introspection API and reports
every task on the instance, each tracked on its own; sends no `stop` (the daemon stopping says
nothing about the tasks)."""

from __future__ import annotations

import threading
import time

from taskbeacon_agent import config, loop
from taskbeacon_agent.config import DEFAULT_KEEPALIVE, Config
from taskbeacon_agent.reporter import Reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from taskbeacon_agent.config import Keepalive
    from taskbeacon_agent.sources import Collected


def run(cfg: Config, stop: Optional[threading.Event] = None, max_cycles: Optional[int] = None) -> int:
    cfg.source = "introspection"
    return loop.run(cfg, "daemon", DaemonState(), "introspection", stop, max_cycles)


class DaemonState:
    """Every task on the host, tracked one by one: only changed tasks (and due keepalives) are sent,
    in snapshots small enough for the API's size limit."""

    poll_tags: Optional[bool] = None  # introspection has no tags

    def __init__(self) -> None:
        # task key -> (fingerprint, monotonic time sent, seconds until its keepalive is due)
        self.sent: Dict[str, Any] = {}
        self.refused: Dict[str, str] = {}  # task key -> fingerprint the API refused (4xx)
        self.started = False
        self.keepalive: Keepalive = DEFAULT_KEEPALIVE

    def cycle(
        self,
        rep: Reporter,
        collected: Collected,
        deadline: float,
        keepalive: Keepalive,
        source: Optional[str],
    ) -> None:
        from taskbeacon_agent import envelope

        self.keepalive = keepalive
        now = time.monotonic()
        changed: List[Any] = []
        due: List[Any] = []
        current: Dict[str, str] = {}
        for task in collected.tasks or []:
            key, fp = envelope.task_key(task), envelope.task_fingerprint(task)
            current[key] = fp
            previous = self.sent.get(key)
            if previous is None or previous[0] != fp:
                changed.append(task)
            elif now - previous[1] >= previous[2]:
                due.append(task)
        for key in [k for k in self.sent if k not in current]:
            del self.sent[key]  # gone from the host (the ECS agent cleaned it up)
        for key in [k for k in self.refused if current.get(k) != self.refused[k]]:
            del self.refused[key]  # gone or changed: worth another try
        changed = [t for t in changed if envelope.task_key(t) not in self.refused]
        first_error: Optional[Exception] = None
        for tasks, reason in ((changed, "change" if self.started else "start"), (due, "keepalive")):
            for chunk in envelope.chunk_tasks(tasks):
                try:
                    self._send_chunk(rep, collected.source, chunk, reason, deadline, current)
                except loop.Interrupted:
                    raise
                except Exception as exc:  # the other chunks still go; these retry next cycle
                    first_error = first_error or exc
        self.started = True
        if first_error is not None:
            raise first_error

    def _send_chunk(
        self,
        rep: Reporter,
        source: str,
        chunk: List[Any],
        reason: str,
        deadline: float,
        current: Dict[str, str],
    ) -> None:
        from taskbeacon_agent import envelope
        from taskbeacon_agent.client import SendError
        from taskbeacon_agent.sources import Collected

        try:
            rep.send(Collected(source, tasks=chunk), reason, deadline)
        except SendError as exc:
            if exc.retryable:
                raise
            if len(chunk) == 1:
                # The API refuses this task as it is (400/403/413): stop resending it until it changes.
                key = envelope.task_key(chunk[0])
                self.refused[key] = current[key]
                raise
            # The API checks a report whole, so one refused task would hold back its neighbours
            # forever: send them one by one; the refused one is remembered above.
            errors: List[Exception] = []
            for task in chunk:
                try:
                    self._send_chunk(rep, source, [task], reason, deadline, current)
                except SendError as single:
                    errors.append(single)
            if errors:
                raise errors[0] from None
            return
        sent_at = time.monotonic()
        for task in chunk:  # each task draws its own next interval: a host's keepalives spread out
            key = envelope.task_key(task)
            self.sent[key] = (current[key], sent_at, config.keepalive_after(self.keepalive))

    def finish(self, rep: Reporter, cfg: Config, source: Optional[str]) -> None:
        """No `stop`: the host agent stopping says nothing about the tasks on the host."""
