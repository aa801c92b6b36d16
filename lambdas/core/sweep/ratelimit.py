"""A token bucket that keeps one account-region's ECS calls at or under a configured rate.

ECS throttles every account per region with token buckets shared by everything that calls ECS
there (the console, deployments, autoscaling, other tools). The sweep must take a small, fixed
share, so its bucket holds one token: calls are spaced ``1 / rate`` seconds apart and never burst,
which keeps any one-second window at ``rate`` calls or fewer. Clock and sleep are injected, so
tests drive it with a simulated clock and never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None  # the earliest moment the next call may start
        self.waited = 0.0  # seconds spent waiting for a token, in total

    def acquire(self) -> float:
        """Wait (through ``sleep``) until a call may start; returns the moment it starts."""
        now = self.clock()
        if self._next is not None and now < self._next:
            pause = self._next - now
            self.sleep(pause)
            self.waited += pause
            now = max(self.clock(), self._next)
        self._next = now + self.interval
        return now

    def defer(self, seconds: float) -> None:
        """Push the next call back (ECS said "throttled": give its bucket time to refill)."""
        start = max(self._next or 0.0, self.clock())
        self._next = start + max(0.0, seconds)
