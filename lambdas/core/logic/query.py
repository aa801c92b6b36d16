"""Query use cases: list, show, history, search and summary. Each page is bounded reads on keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.errors import AmbiguousTask, InvalidCursor, InvalidInput, NotFound
from core.logic.drift import is_drifted
from core.logic.images import index_names, search_key
from core.logic.indexing import (
    ALL,
    CLUSTER_NAME_KIND,
    DIGEST,
    DIGEST_PREFIX_HEX,
    DRIFTED_KIND,
    DRIFTED_VALUE,
    IMAGE,
    LIVE_KIND,
    MAX_ACTIVE_DAYS,
    MAX_INDEXED_VALUE_BYTES,
    PROJECTED_FILTERS,
    STATUS,
    TASK_ID_KIND,
    active_span,
    cluster_name_of,
    digest_partition_value,
    index_entries,
)
from core.logic.lifecycle import RUNNING, STOPPED, is_stopped
from core.logic.paging import DONE, merged_page
from core.logic.summaries import coverage_rows, summary_groups
from core.model import StoredTask, Task
from core.model.time import timestamp
from core.store import cursor as cursors
from core.store import index
from core.store.index import ACTIVE_DAY, IndexHit, IndexStore
from core.store.tasks import TaskStore
from core.vocabulary import DRIFTED_SUMMARY_DIMENSIONS, LIST_FILTERS, SUMMARY_DIMENSIONS

if TYPE_CHECKING:
    from core.normalize.common import TaskRef

# How many index entries one page may read while filters drop some: keeps reads near the page size.
_READ_BUDGET_FACTOR = 3
_MAX_CANDIDATES = 20

# A filter the entries cannot answer (they are written once): it judges the entry with its task's record.
RecordCheck = Callable[[IndexHit, StoredTask], bool]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    items_read: int = 0

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "nextCursor": self.next_cursor}


class QueryService:
    def __init__(
        self,
        tasks: TaskStore,
        index: IndexStore,
        *,
        keepalive_seconds: int,
        history_limit: int,
        clock: Callable[[], datetime] | None = None,
    ):
        self.tasks = tasks
        self.index = index
        self.keepalive_seconds = keepalive_seconds
        self.history_limit = history_limit
        # What "now" is for expiry and staleness (tests pin it; TTL deletion itself lags in DynamoDB).
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- single task -------------------------------------------------------------------------
    def get_task(self, task_ref: str, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or self.clock()
        return self._document(self._find(task_ref, now), now)

    def history(self, task_ref: str, *, limit: int, cursor: str | None, now: datetime | None = None) -> Page:
        stored = self._find(task_ref, now or self.clock())
        # Newest first by when it happened: reports and events can arrive out of order.
        ordered = sorted(
            enumerate(stored.record.history), key=lambda e: (e[1].get("at", ""), e[0]), reverse=True
        )
        entries = [entry for _, entry in ordered]
        query = {"history": stored.identity}
        offset = 0
        if cursor:
            offset = cursors.decode(cursor, query)
            if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= len(entries):
                raise InvalidCursor("cursor is stale: the history moved on; start again", field="cursor")
        page = entries[offset : offset + limit]
        more = offset + limit < len(entries)
        return Page(page, cursors.encode(offset + limit, query) if more else None, items_read=1)

    def _find(self, task_ref: str, now: datetime) -> StoredTask:
        """A task by ARN (exact), or by bare id when exactly one account and region has it."""
        task_id, arn = _task_reference(task_ref)
        if arn is not None:
            identity = f"{arn.partition}#{arn.account_id}#{arn.region}#{task_id}"
        else:
            identities = self._identities_of(task_id, now)
            if len(identities) > 1:
                raise AmbiguousTask(
                    f"task id {task_id} exists in several accounts or regions; ask by task ARN",
                    candidates=[hit.projection.get("taskArn", hit.identity) for hit in identities],
                )
            if not identities:
                raise NotFound(f"no task {task_id} in the inventory", field="taskId")
            identity = identities[0].identity
        stored = self.tasks.load_task(identity)
        if stored is None or _expired(stored.expires_at, now):
            raise NotFound(f"no task {task_id} in the inventory", field="taskId")
        return stored

    def _identities_of(self, task_id: str, now: datetime) -> list[IndexHit]:
        (partition,) = index.partitions(TASK_ID_KIND, task_id)  # one task's own value: never sharded
        page = self.index.query_shard(partition, after=None, limit=_MAX_CANDIDATES)
        return [hit for hit in page.hits if not _expired(hit.expires_at, now)]

    # -- lists and searches -----------------------------------------------------------------
    def list_tasks(
        self,
        filters: dict[str, str],
        *,
        since: datetime | None,
        limit: int,
        cursor: str | None,
        active_at: datetime | None = None,
        active_from: datetime | None = None,
        active_to: datetime | None = None,
        drifted: bool = False,
    ) -> Page:
        filters = _canonical(filters)
        window = _window(active_at, active_from, active_to)
        if drifted:
            return self._drifted(filters, window, since=since, limit=limit, cursor=cursor)
        if window is not None:
            return self._active(filters, window, since=since, limit=limit, cursor=cursor)
        query = {"list": filters, "since": timestamp(since) if since else None}
        low = timestamp(since) if since else None
        status = filters.get(STATUS)
        if status is not None and not is_stopped(status):
            # Every task not yet stopped is in the live partition, whose entries follow its status.
            return self._paged(LIVE_KIND, ALL, _by_name(filters), query, limit, cursor, low=low)
        kind, value = ALL, ALL
        for name in LIST_FILTERS:
            if name in filters and name not in PROJECTED_FILTERS and name != STATUS:
                kind, value = name, filters[name]
                break
        projected = {name: wanted for name, wanted in filters.items() if name not in (kind, STATUS)}
        if kind == "cluster":  # entries are keyed by the cluster's name; an ARN is compared after
            if value.startswith("arn:"):
                projected["cluster"] = value
            kind, value = CLUSTER_NAME_KIND, cluster_name_of(value)
        check: RecordCheck | None = None
        if status is not None:  # STOPPED: the record says (entries are not rewritten at the stop)
            check = lambda _hit, stored: stored.record.task.last_status == STOPPED  # noqa: E731
        return self._paged(kind, value, _by_name(projected), query, limit, cursor, low=low, check=check)

    def _drifted(
        self,
        filters: dict[str, str],
        window: tuple[datetime, datetime] | None,
        *,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Tasks drifted now (``drifted=true``): the drifted partition, every other filter compared
        with the entries' projections, and the record confirming the verdict (the entry may lag it).
        A drifted task has not stopped, so it ran in a window exactly when it started by the window's end."""
        status = filters.get(STATUS)
        projected = _by_name({name: value for name, value in filters.items() if name != STATUS})
        low = timestamp(since) if since else None
        high = timestamp(window[1]) if window else None
        query: dict[str, Any] = {
            "drifted": True,
            "list": filters,
            "since": low,
            "active": [timestamp(moment) for moment in window] if window else None,
        }

        def check(_hit: IndexHit, stored: StoredTask) -> bool:
            task = stored.record.task
            if not is_drifted(task) or is_stopped(task.last_status):
                return False
            return status is None or task.last_status == status

        return self._paged(
            DRIFTED_KIND, DRIFTED_VALUE, projected, query, limit, cursor, low=low, high=high, check=check
        )

    def _active(
        self,
        filters: dict[str, str],
        window: tuple[datetime, datetime],
        *,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Tasks running at any moment of ``window``: the live partition, and for stopped tasks the
        day partitions the window touches (each stopped task is taken from one day only)."""
        start, end = (timestamp(moment) for moment in window)
        days = _days(window)
        day_of: dict[str, str | None] = dict.fromkeys(index.partitions(LIVE_KIND, ALL))
        for day in days:
            day_of.update(dict.fromkeys(index.partitions(ACTIVE_DAY, day), day))
        partitions = list(day_of)
        projected = _by_name(filters)
        low = timestamp(since) if since else None
        query = {"active": [start, end], "list": filters, "since": low}
        now = self.clock()

        def keep(hit: IndexHit) -> bool:
            if _expired(hit.expires_at, now) or hit.held_from is None or hit.held_from > end:
                return False
            if hit.held_until is not None and hit.held_until < start:
                return False
            day = day_of.get(hit.partition)
            # Day entries are written at the stop: their task is stopped.
            shown = hit.projection if day is None else {**hit.projection, STATUS: STOPPED}
            if any(shown.get(name) != wanted for name, wanted in projected.items()):
                return False
            # A stopped task has an entry for each day it was active (the last MAX_ACTIVE_DAYS): keep
            # the first of them inside the window.
            return day is None or day == max(days[0], _first_indexed_day(hit))

        return self._merged(
            partitions, keep, query, limit, cursor, low=low, high=end
        )  # time entries sort by start

    def search(
        self,
        kind: str,
        value: str,
        *,
        status: str | None,
        at: datetime | None,
        limit: int,
        cursor: str | None,
        confirmed: bool = False,
    ) -> Page:
        if status:
            status = _canonical({STATUS: status})[STATUS]
        moment = timestamp(at) if at else None
        query: dict[str, Any] = {"search": kind, "value": value, "status": status, "at": moment}
        if confirmed:
            query["confirmed"] = True  # a cursor of one answer never pages the other
        starts: tuple[str, str] | None = None
        projected: dict[str, str] = {}
        searched = value
        if kind == "image":
            # nginx:1.27, a repository alone, or a full reference (read from its repository's entries)
            value, reference = search_key(value)
            if reference is not None:
                projected[IMAGE] = reference
            searched = reference or value
        elif kind == "imageDigest":
            digest = _digest_prefix(value)
            value, starts = digest_partition_value(digest), (DIGEST, digest)
            searched = value
        check: RecordCheck | None = None
        if status or confirmed or (moment and kind == "ip"):
            # Status, AWS's confirmation and an address's release come after the entry was written.
            def check(hit: IndexHit, stored: StoredTask) -> bool:
                task = stored.record.task
                if status and task.last_status != status:
                    return False
                if confirmed and not _confirmed(kind, searched, hit, task):
                    return False
                return not (moment and kind == "ip" and not _held_at(task, moment))

        return self._paged(
            kind,
            value,
            projected,
            query,
            limit,
            cursor,
            # An address's entries are ordered by first sight, not its holder's start: the record says.
            high=None if kind == "ip" else moment,
            at=moment,
            held=kind == "ip",
            starts=starts,
            check=check,
            searched=searched,
        )

    def coverage(self) -> dict[str, Any]:
        """Per account and region: tasks not yet stopped by the source that reported them, when the
        sweep last read it and when it last sent an event. The live partition (whole, its shards
        side by side) and the coverage items; an account-region no source reaches is simply absent."""
        from core.store.coverage import CoverageStore

        marks = CoverageStore(self.tasks.table_name, self.tasks.client).load_all()
        return {"items": coverage_rows(self._live(), marks)}

    def summary(self, by: str, *, drifted: bool = False) -> dict[str, Any]:
        """Running tasks per group, counted from the live partition on each call (docs/decisions.md
        "Summaries on read"): nothing is counted on the write path. ``drifted``: only running tasks
        drifted now, counted from the drifted partition (O(drifted)), each confirmed by its record."""
        if by not in SUMMARY_DIMENSIONS:
            raise InvalidInput(f"by must be one of {', '.join(SUMMARY_DIMENSIONS)}", field="by")
        if not drifted:
            return summary_groups(self._live(), by)
        if by not in DRIFTED_SUMMARY_DIMENSIONS:
            raise InvalidInput(
                f"with drifted=true, by must be one of {', '.join(DRIFTED_SUMMARY_DIMENSIONS)}", field="by"
            )
        return summary_groups(self._drifted_running(), by)

    def _drifted_running(self) -> list[dict[str, str]]:
        """The projections of the drifted entries whose record says drifted and RUNNING now."""
        now = self.clock()
        hits = [
            hit
            for hit in self.index.whole_partitions(index.partitions(DRIFTED_KIND, DRIFTED_VALUE))
            if not _expired(hit.expires_at, now)
        ]
        records = self.tasks.load_tasks([hit.identity for hit in hits], seen_of=lambda _stored: False)
        shown = []
        for hit in hits:
            stored = records.get(hit.identity)
            if stored is None or _expired(stored.expires_at, now):
                continue
            task = stored.record.task
            if is_drifted(task) and task.last_status == RUNNING:
                shown.append({**hit.projection, STATUS: RUNNING})
        return shown

    def _live(self) -> list[dict[str, str]]:
        """The projections of every live entry that has not expired."""
        now = self.clock()
        return [
            hit.projection
            for hit in self.index.whole_partitions(index.partitions(LIVE_KIND, ALL))
            if not _expired(hit.expires_at, now)
        ]

    def _paged(
        self,
        kind: str,
        value: str,
        projected: dict[str, str],
        query: dict[str, Any],
        limit: int,
        cursor: str | None,
        *,
        low: str | None = None,
        high: str | None = None,
        at: str | None = None,
        held: bool = False,
        starts: tuple[str, str] | None = None,
        check: RecordCheck | None = None,
        searched: str = "",
    ) -> Page:
        now = self.clock()
        if len(value.encode()) > MAX_INDEXED_VALUE_BYTES:
            return Page([], None)  # never indexed, and too long for a DynamoDB key: nothing can match

        def keep(hit: IndexHit) -> bool:
            if _expired(hit.expires_at, now):
                return False
            if any(hit.projection.get(name) != wanted for name, wanted in projected.items()):
                return False
            if starts is not None and not hit.projection.get(starts[0], "").startswith(starts[1]):
                return False
            return at is None or hit.held_from is None or hit.held_from <= at

        return self._merged(
            index.partitions(kind, value),
            keep,
            query,
            limit,
            cursor,
            low=low,
            high=high,
            held=(kind, searched) if held else None,
            check=check,
        )

    def _merged(
        self,
        partitions: list[str],
        keep: Any,
        query: dict[str, Any],
        limit: int,
        cursor: str | None,
        *,
        low: str | None = None,
        high: str | None = None,
        held: tuple[str, str] | None = None,
        check: RecordCheck | None = None,
    ) -> Page:
        now = self.clock()
        if low is not None and high is not None and low > high:
            return Page([], None)  # e.g. `since` after the window asked about: nothing can match
        positions = _positions(cursors.decode(cursor, query), len(partitions)) if cursor else None
        if positions is not None and all(position == DONE for position in positions):
            return Page([], None)
        for position in positions or []:
            if position and not index.within(position, low, high):
                raise InvalidCursor("cursor does not belong to this query", field="cursor")
        records: dict[str, StoredTask] = {}
        record_reads = 0

        def prefetch(hits: list[IndexHit]) -> None:
            nonlocal record_reads
            wanted = [hit.identity for hit in hits if hit.identity not in records]
            record_reads += len(wanted)
            records.update(self.tasks.load_tasks(wanted, seen_of=self._may_have_newer_sighting))

        def judged(hit: IndexHit) -> bool:
            if not keep(hit):
                return False
            stored = records.get(hit.identity)
            if stored is None or _expired(stored.expires_at, now):
                return False
            return check is None or check(hit, stored)

        page = merged_page(
            self.index,
            partitions,
            positions=positions,
            limit=limit,
            keep=keep if check is None else judged,
            read_budget=limit * _READ_BUDGET_FACTOR,
            low=low,
            high=high,
            prefetch=None if check is None else prefetch,
        )
        missing = [hit.identity for hit in page.hits if hit.identity not in records]
        record_reads += len(missing)
        records.update(self.tasks.load_tasks(missing, seen_of=self._may_have_newer_sighting))
        items: list[dict[str, Any]] = []
        for hit in page.hits:
            stored = records.get(hit.identity)
            if stored is None or _expired(stored.expires_at, now):
                continue  # expired or deleted between the index read and the record read
            document = self._document(stored, now)
            if held is None:
                items.append(document)
                continue
            task = stored.record.task
            items.append(
                {
                    "task": document,
                    "heldFrom": timestamp(active_span(task)[0]),
                    "heldUntil": _held_until(task),
                    # Whether AWS stated this address for the task, or only the task itself did.
                    "confirmed": _confirmed(held[0], held[1], hit, task),
                }
            )
        next_cursor = cursors.encode(page.positions, query) if page.positions is not None else None
        return Page(items, next_cursor, items_read=page.items_read + 2 * record_reads)

    def _document(self, stored: StoredTask, now: datetime) -> dict[str, Any]:
        from core.store.records import task_document

        task = stored.record.task
        last_seen = max(filter(None, (task.last_seen_at, stored.seen_at)), default=None)
        document = task_document(task)
        document.setdefault("drift", None)  # never judged (docs/decisions.md "Drift")
        if last_seen is not None:
            document["lastSeenAt"] = timestamp(last_seen)
        document["stale"] = self._is_stale(task.last_status, last_seen, now)
        document["indexTruncated"] = index_entries(task)[1]  # pure, from the record: never stored
        return document

    def _may_have_newer_sighting(self, stored: StoredTask) -> bool:
        """Whether a page must read the task's keepalive item too: only when the record alone would
        make a running task look stale (keepalives move only that item). Every other task is shown
        from its record, so a page reads no keepalive item beside each record; its ``lastSeenAt`` is
        then the record's, which a keepalive since may have passed (``GET /tasks/{id}`` reads both)."""
        task = stored.record.task
        return self._is_stale(task.last_status, task.last_seen_at, self.clock())

    def _is_stale(self, status: str | None, last_seen: datetime | None, now: datetime) -> bool:
        """No report or event for longer than two keepalive intervals while not stopped."""
        if is_stopped(status) or last_seen is None:
            return False
        if last_seen.tzinfo is None:
            last_seen = last_seen.replace(tzinfo=UTC)
        return (now - last_seen).total_seconds() > 2 * self.keepalive_seconds


def _task_reference(reference: str) -> tuple[str, TaskRef | None]:
    """``(task id, its ARN's parts)`` for a task ARN, ``(task id, None)`` for a bare id.

    Only what a stored task can be named by: every source stores a task under an ARN
    ``parse_task_arn`` takes (both formats), so its id is what that ARN's id segment holds (1-64 of
    ``[A-Za-z0-9_-]``: ECS's 32 hex characters, the old format's 36-character UUID). A bare id is
    checked as the id segment of an old-format ARN, so that alphabet stays named once. Anything
    else (65 characters, a space, a slash, another script's letters) is a 400 naming ``taskId``,
    never a lookup that answers 404.
    """
    from core.normalize.common import parse_task_arn

    if reference.startswith("arn:"):
        ref = parse_task_arn(reference, "taskId")  # InvalidInput naming taskId
        return ref.task_id, ref
    if "/" not in reference:
        try:
            parse_task_arn(f"arn:aws:ecs:us-east-1:000000000000:task/{reference}", "taskId")
        except InvalidInput:
            pass
        else:
            return reference, None
    raise InvalidInput(
        "taskId is neither an ECS task id (1-64 letters, digits, '-' or '_') nor a task ARN", field="taskId"
    )


_DIGEST_HEX = frozenset("0123456789abcdef")


def _digest_prefix(value: str) -> str:
    """`sha256:` and 12 or more of its hex characters, or the hex alone, as tables show it."""
    algorithm, _, hex_part = value.strip().lower().rpartition(":")
    algorithm = algorithm or "sha256"
    if algorithm != "sha256" or len(hex_part) < DIGEST_PREFIX_HEX or not set(hex_part) <= _DIGEST_HEX:
        raise InvalidInput(
            "imageDigest must be sha256:<hex> with at least 12 hex characters (a prefix is enough), "
            f"got {value[:80]!r}",
            field="imageDigest",
        )
    return f"sha256:{hex_part}"


def _canonical(filters: dict[str, str]) -> dict[str, str]:
    """Filter values in the spelling the store keeps (launch types and statuses are ECS enums).

    A value outside the enum could never match: it is a 400 that names the field and the values
    it takes, rather than an empty answer that looks like "no such tasks"."""
    from core.logic.lifecycle import TASK_STATUSES
    from core.normalize.common import LAUNCH_TYPES, launch_type

    canonical = dict(filters)
    for name, allowed in (("launchType", LAUNCH_TYPES), ("status", TASK_STATUSES)):
        if name in canonical:
            value = launch_type(canonical[name]) or canonical[name]
            if value not in allowed:
                raise InvalidInput(
                    f"{name} must be one of {', '.join(allowed)}, got {canonical[name][:40]!r}", field=name
                )
            canonical[name] = value
    return canonical


def _positions(decoded: Any, shards: int) -> list[str | None]:
    """Cursor positions, checked for shape: one per shard, each unset, done or a sort key."""
    if not isinstance(decoded, list) or len(decoded) != shards:
        raise InvalidCursor("cursor does not belong to this query", field="cursor")
    for position in decoded:
        if position is None or position == DONE:
            continue
        if not isinstance(position, str) or not index.is_position(position):
            raise InvalidCursor("cursor does not belong to this query", field="cursor")
    return decoded


_MAX_WINDOW = timedelta(days=7)


def _window(
    active_at: datetime | None, active_from: datetime | None, active_to: datetime | None
) -> tuple[datetime, datetime] | None:
    if active_at is not None:
        if active_from is not None or active_to is not None:
            raise InvalidInput("give activeAt, or activeFrom with activeTo, not both", field="activeAt")
        return active_at, active_at
    if active_from is None and active_to is None:
        return None
    if active_from is None or active_to is None:
        raise InvalidInput(
            "activeFrom and activeTo go together", field="activeFrom" if active_from is None else "activeTo"
        )
    if active_to < active_from:
        raise InvalidInput("activeTo is before activeFrom", field="activeTo")
    if active_to - active_from > _MAX_WINDOW:
        raise InvalidInput("a window spans at most 7 days; page through shorter ones", field="activeTo")
    return active_from, active_to


def _first_indexed_day(hit: IndexHit) -> str:
    assert hit.held_from is not None
    start = hit.held_from[:10]
    if hit.held_until is None:
        return start
    stop = datetime.fromisoformat(hit.held_until[:10]).date()
    return max(start, (stop - timedelta(days=MAX_ACTIVE_DAYS - 1)).isoformat())


def _days(window: tuple[datetime, datetime]) -> list[str]:
    first, last = (moment.astimezone(UTC).date() for moment in window)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _expired(expires_at: int | None, now: datetime) -> bool:
    """TTL deletion lags by up to days; reads hide what has already expired."""
    return expires_at is not None and expires_at <= int(now.timestamp())


def _held_until(task: Task) -> str | None:
    """Until when a task held its addresses: its stop (None while it has not stopped)."""
    return timestamp(task.stopped_at) if task.stopped_at else None


def _held_at(task: Task, moment: str) -> bool:
    """Whether the task held its addresses at ``moment``: from its start until its stop."""
    if timestamp(active_span(task)[0]) > moment:
        return False
    held_until = _held_until(task)
    return held_until is None or held_until >= moment


def _confirmed(kind: str, value: str, hit: IndexHit, task: Task) -> bool:
    """Whether AWS stated the value this entry found the task by (DESIGN 3.9)."""
    facts = task.sources.confirmed
    if kind == "ip":
        return value in facts.ips
    if kind == "eni":
        return value in facts.enis
    if kind == "imageDigest":
        return hit.projection.get(DIGEST) in facts.image_digests
    if kind == "image":
        return any(value in index_names(image) for image in facts.images)
    return False


def _by_name(filters: dict[str, str]) -> dict[str, str]:
    """Filters as entries' projections hold them: a cluster given by name is matched by name."""
    projected = dict(filters)
    if "cluster" in projected and not projected["cluster"].startswith("arn:"):
        projected[CLUSTER_NAME_KIND] = projected.pop("cluster")
    return projected
