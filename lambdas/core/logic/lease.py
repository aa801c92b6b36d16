"""How long a task's index entries live, decided when they are written (pure).

Entries are written once, with their expiry known then, so a stop rewrites none of them: every
entry of a task expires at its record's ``lease_until``. While the task runs, the reconciler renews
the lease before it comes within ``RENEW_MARGIN_DAYS`` of what a stop now would need, and the
indexer rewrites the entries with the new expiry. A stopped task's record expires with its entries
or later: ``max(stopped + retention, lease)``, so no entry outlives its record and no record loses
its entries. So a stopped task is kept at least the retention, and at most ``RENEWED_LEASE_DAYS``
longer. See docs/decisions.md "Entries written once".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The first lease covers tasks that stop within two weeks (most of them) with no renewal.
FIRST_LEASE_DAYS = 14
# A task that outlived its first lease is a long runner: renew for longer, so it is rewritten rarely.
RENEWED_LEASE_DAYS = 60
# The reconciler runs every 6 hours; three days leave room for a failed run or two.
RENEW_MARGIN_DAYS = 3


def _epoch(moment: datetime) -> int:
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def first_lease(now: datetime, retention_days: int) -> int:
    return _epoch(now + timedelta(days=retention_days + FIRST_LEASE_DAYS))


def renewed_lease(now: datetime, retention_days: int) -> int:
    return _epoch(now + timedelta(days=retention_days + RENEWED_LEASE_DAYS))


def renewal_due_before(now: datetime, retention_days: int) -> int:
    """Leases ending before this (epoch seconds) are renewed now: a stop within the margin would
    otherwise leave its record longer than its entries."""
    return _epoch(now + timedelta(days=retention_days + RENEW_MARGIN_DAYS))


def record_expiry(stopped: datetime, lease_until: int | None, retention_days: int) -> int:
    """When a stopped task's record goes: after the retention, and never before its entries."""
    kept = _epoch(stopped + timedelta(days=retention_days))
    return max(kept, lease_until or 0)
