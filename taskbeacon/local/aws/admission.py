"""Admission control for the local gateway: a few requests at work, a short bounded wait, then no.

One process serves every request (the handlers one at a time, like one Lambda instance). A fleet
that asks faster than that is answered at once with 429 or 503 and ``Retry-After`` (as API Gateway
answers throttled calls, and the agent honours it), instead of queueing until clients time out or
the kernel resets connections. So what is accepted is answered within about ``max_wait`` plus one
request's work, and the memory of waiting requests is bounded by ``max_waiting``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum

ACTIVE = 4  # at work at once: verifying signatures and building events overlaps the handler's turn
WAITING = 64  # waiting for a turn; one more is refused at once (429)
MAX_WAIT_SECONDS = 0.5  # a waiter not admitted within this is refused (503)
# A refused request still costs a connection, a thread and an answer: with 200 agents at 1 s, half the
# sends were refusals; at 2 s they were a quarter, and more of the one core went to accepted reports
# (docs/performance.md, "Retry-After").
RETRY_AFTER_SECONDS = 2


class Verdict(Enum):
    ADMITTED = "admitted"
    QUEUE_FULL = "queue full"  # 429: too many requests at once
    WAITED_TOO_LONG = "waited too long"  # 503: the work ahead takes longer than a caller should wait


@dataclass
class Admission:
    active: int = ACTIVE
    waiting: int = WAITING
    max_wait: float = MAX_WAIT_SECONDS
    retry_after: int = RETRY_AFTER_SECONDS
    refused: dict[str, int] = field(default_factory=lambda: {"429": 0, "503": 0})
    _working: int = 0
    _queued: int = 0
    _turn: threading.Condition = field(default_factory=threading.Condition)

    def enter(self) -> Verdict:
        """Take a turn (then call ``leave``), or the reason there is none."""
        with self._turn:
            if self._working < self.active:
                self._working += 1
                return Verdict.ADMITTED
            if self._queued >= self.waiting:
                self.refused["429"] += 1
                return Verdict.QUEUE_FULL
            self._queued += 1
            deadline = time.monotonic() + self.max_wait
            try:
                while self._working >= self.active:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self.refused["503"] += 1
                        return Verdict.WAITED_TOO_LONG
                    self._turn.wait(remaining)
            finally:
                self._queued -= 1
            self._working += 1
            return Verdict.ADMITTED

    def leave(self) -> None:
        with self._turn:
            self._working -= 1
            self._turn.notify()
