"""Capped exponential backoff with full jitter, bounded by a deadline."""

from __future__ import annotations

import random
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Callable, Optional
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def backoff_delay(
    attempt: int, base: float = 0.1, cap: float = 5.0, rng: Optional[random.Random] = None
) -> float:
    """Full jitter (AWS architecture blog): uniform(0, min(cap, base * 2**attempt))."""
    r = rng or random
    return r.uniform(0.0, min(cap, base * (2**attempt)))


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After as delta-seconds or HTTP-date; None if absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for the rare HTTP-date form (email.utils is not small)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def sleep_within(
    delay: float, deadline: Optional[float], sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Sleep `delay` unless that would pass the deadline; return False (without sleeping) if it would."""
    if deadline is not None and time.monotonic() + delay >= deadline:
        return False
    if delay > 0:
        sleep(delay)
    return True
