"""Hypothesis profiles: ``ci`` (the default: the same examples on every run) and ``fuzz`` (``make fuzz``).

- ``ci``: ``derandomize=True`` (examples follow from each test's own name, so ``make test`` passes or
  fails the same way on every run and machine), no example database (a developer's ``.hypothesis/``
  cannot change what CI runs), no deadline (two cores are shared by the whole suite),
  ``print_blob`` so a failure prints how to reproduce it.
- ``fuzz``: randomized, with the example database (``.hypothesis/``, which replays what failed
  before), and ``FUZZ_FACTOR`` times each test's own example count (``examples``).

Chosen by ``HYPOTHESIS_PROFILE`` (default ``ci``), or hypothesis's ``--hypothesis-profile=fuzz``.
A test's ``@settings(...)`` keeps the profile's value of every setting it does not name: so tests
name ``max_examples`` (through ``examples``) but not ``derandomize`` or ``database``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI = "ci"
FUZZ = "fuzz"
FUZZ_FACTOR = 10


def register() -> None:
    """Register both profiles and load the one ``HYPOTHESIS_PROFILE`` names (``ci`` by default)."""
    # Both from hypothesis's own defaults, not from whatever is loaded now (under a CI variable
    # hypothesis has loaded its built-in "ci", whose database=None fuzz must not inherit).
    base = settings.get_profile("default")
    settings.register_profile(
        CI,
        base,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        FUZZ,
        base,
        derandomize=False,
        max_examples=100 * FUZZ_FACTOR,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", CI))


def examples(count: int) -> int:
    """A test's example count: ``count`` under ``ci``, ``FUZZ_FACTOR`` times as many under ``fuzz``.

    Read when the test module is imported, which is after pytest loaded the profile.
    """
    return count * FUZZ_FACTOR if settings.get_current_profile_name() == FUZZ else count


def suppressed(*checks: HealthCheck) -> list[HealthCheck]:
    """The loaded profile's suppressed health checks and ``checks``: a test's own list replaces the
    profile's, so a test that suppresses one more keeps the profile's (``too_slow``) this way."""
    return [*settings.default.suppress_health_check, *checks]
