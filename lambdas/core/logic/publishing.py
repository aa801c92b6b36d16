"""Publishing a batch's change events exactly once per change (issue 17 item 1).

For the runs the indexer planned (core/logic/indexer.py), in this order:
1. derive each run's events (core/logic/change_events.py: pure, ids a replay reproduces);
2. claim the digests tasks gained in the registry (core/store/digests.py): an ``Image Digest First
   Seen`` goes out only for the task that registered the digest first;
3. drop the events a published mark says are out (one consistent BatchGetItem);
4. PutEvents (core/publish.py), then mark what landed (``EVTOUT#<eventId>``, 2 days' TTL).

Duplicates across Lambda retries: a retried batch derives the same ids, and step 3 drops those an
earlier attempt published. The window left: an attempt that dies after PutEvents succeeded and
before its marks are written (Lambda timeout or crash, or a mark DynamoDB kept refusing) publishes
those events again on the retry, with the same ``detail.eventId``; consumers that must never see
one twice dedupe on it (docs/events.md). Events that did not land fail their task's first record
(``unpublished``), like a failed entry write, so Lambda retries the batch from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from core.logic.change_events import ChangeEvent, derive

if TYPE_CHECKING:
    from core.model import StreamChange
    from core.publish import Publisher


class EventMarksStore(Protocol):
    """The registry and published marks (core.store.digests.ChangeEventStore)."""

    def claim(self, claims: dict[str, str]) -> set[str]: ...

    def already_published(self, event_ids: Sequence[str]) -> set[str]: ...

    def mark_published(self, event_ids: Sequence[str]) -> set[str]: ...


class ChangeEventPublishing:
    def __init__(self, store: EventMarksStore, publisher: Publisher):
        self.store = store
        self.publisher = publisher

    def publish(self, runs: Mapping[str, list[StreamChange]]) -> set[str]:
        """Publish the runs' events; the identities of tasks some of whose events did not land."""
        events: list[ChangeEvent] = []
        claims: dict[str, str] = {}
        candidates = []
        for run in runs.values():
            derived = derive(run)
            events += derived.events
            for candidate in derived.digests:
                claims.setdefault(candidate.digest, candidate.event.identity)
                candidates.append(candidate)
        if candidates:
            mine = self.store.claim(claims)
            events += [
                c.event for c in candidates if c.digest in mine and claims[c.digest] == c.event.identity
            ]
        if not events:
            return set()
        published = self.store.already_published([event.id for event in events])
        fresh = [event for event in events if event.id not in published]
        if not fresh:
            return set()
        failed = self.publisher.publish(fresh)
        self.store.mark_published([event.id for event in fresh if event.id not in failed])
        return {event.identity for event in fresh if event.id in failed}
