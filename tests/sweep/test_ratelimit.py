"""The token bucket never lets more than the configured calls start in any one-second window."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from core.sweep.ratelimit import TokenBucket
from tests.store.builders import T0
from tests.sweep.stub import SimClock


def _most_in_a_second(moments: list[float], window: float = 1.0) -> int:
    """The largest number of calls that started in any half-open window [t, t + window)."""
    most = 0
    for i, start in enumerate(moments):
        most = max(most, sum(1 for moment in moments[i:] if moment < start + window - 1e-9))
    return most


@pytest.mark.parametrize("rate", [5.0, 2.5, 1.0, 20.0, 0.5])
def test_calls_in_any_second_never_exceed_the_rate(rate: float) -> None:
    clock = SimClock(T0)
    bucket = TokenBucket(rate, clock=clock.monotonic, sleep=clock.sleep)
    moments = [bucket.acquire() for _ in range(300)]
    assert _most_in_a_second(moments) <= math.ceil(rate)  # 2.5 a second: 3 in some seconds, 2 in others
    assert _most_in_a_second(moments, window=10.0) <= 10 * rate  # and never more on average
    # ... and it is not slower than it needs to be: 300 calls take (300 - 1) / rate seconds.
    assert moments[-1] == pytest.approx(299 / rate)


def test_work_between_calls_is_not_counted_twice_and_bursts_never_happen() -> None:
    clock = SimClock(T0)
    bucket = TokenBucket(5, clock=clock.monotonic, sleep=clock.sleep)
    rng = random.Random(7)
    moments = []
    for _ in range(500):
        moments.append(bucket.acquire())
        clock.sleep(rng.choice([0.0, 0.01, 0.05, 0.3, 2.0]))  # the caller's own work, sometimes long
    assert _most_in_a_second(moments) <= 5
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= 0.2 - 1e-9  # idle time is never saved up into a burst


def test_defer_pushes_the_next_call_back() -> None:
    clock = SimClock(T0)
    bucket = TokenBucket(5, clock=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    bucket.defer(3.0)
    assert bucket.acquire() == pytest.approx(3.2)
    assert bucket.waited == pytest.approx(3.2)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
