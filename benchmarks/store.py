"""What each report costs in DynamoDB, measured on real payloads through the real write path and indexer.

A realistic task: the recorded ``v4-taskwithtags-ec2-awsvpc.json`` (awsvpc, the ``~internal~ecs~pause``
container, task and instance tags) with its ``curl`` container copied into three application
containers (app, log router, the taskbeacon sidecar), each with its own ids. Snapshots go through the
real normalizer (``core.normalize.normalize_snapshot``), events (the recorded
``eventbridge-task-state-change-fargate-running.json``, re-addressed to the same task, and its
STOPPED form) through ``core.normalize.normalize_event``; then the real ``Recorder`` (request path)
and, from the table's real stream, the real ``Indexer``.

Every DynamoDB call goes through :class:`RecordingClient`, which counts calls, items, item sizes as
DynamoDB computes them and the capacity units that follow (writes: ceil(size / 1 KB) per item, the
larger of the old and new item, x2 inside a transaction; reads: 4 KB units, strongly consistent = 1,
eventually consistent = 0.5, a Query summed over its items before rounding). On DynamoDB Local the
engine's own ``ConsumedCapacity`` is recorded beside the computed units; moto's is constant.

Runs on AWS's DynamoDB Local when Java and the npm jar are present, else on moto in memory.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.payloads import changed, envelope, event, stopping, task_document

ROOT = Path(__file__).resolve().parents[1]
TABLE = "bench"
TASKS_PER_KIND = 20  # each report kind is measured on this many tasks (the numbers are per report)
BATCH_TASKS = 100  # starts (and stops) recorded together, then one stream drain: the indexer batched
FLEET = 2_000  # tasks in the table when the read paths are measured
PAGE = 100
PAGES = 3
WRITE_UNIT = 1024
READ_UNIT = 4096

KEY_NAMES = ("pk", "sk")  # core.store.schema.PARTITION_KEY / SORT_KEY (checked in setup)


# -- DynamoDB's item size -------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    """Bytes of one attribute value, as DynamoDB counts them (developer guide, "Item sizes")."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(_b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in inner)
    if kind == "NS":
        return sum(number_size(item) for item in inner)
    if kind == "BS":
        return sum(len(item) if isinstance(item, bytes) else len(_b64decode(item)) for item in inner)
    if kind == "L":
        return 3 + sum(value_size(item) + 1 for item in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(item) + 1 for name, item in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def number_size(text: str) -> int:
    """About one byte per two significant digits, plus one (leading and trailing zeros trimmed)."""
    digits = text.lstrip("+-").replace(".", "").lstrip("0")
    if "." in text.lstrip("+-"):
        digits = digits.rstrip("0")
    elif digits:
        digits = digits.rstrip("0") or "0"
    return math.ceil(max(1, len(digits)) / 2) + 1


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT))
    return float(units) if consistent else units / 2


def _b64decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


# -- the recording client -------------------------------------------------------------------------


@dataclass
class Call:
    phase: str
    operation: str
    read_units: float = 0.0
    items_read: int = 0
    bytes_read: int = 0
    items_written: int = 0
    transactional_items: int = 0
    write_units: int = 0
    item_sizes: list[int] = field(default_factory=list)  # billed size of each item written
    engine_units: float | None = None  # ConsumedCapacity as the engine reported it
    families: list[str] = field(default_factory=list)  # what each item written is (see ``family``)
    failed: bool = False

    @property
    def is_write(self) -> bool:
        return self.operation in WRITE_OPERATIONS

    @property
    def is_read(self) -> bool:
        return self.operation in READ_OPERATIONS


READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class RecordingClient:
    """A boto3 DynamoDB client that records what every data call reads and writes, and what it costs.

    Write sizes are the larger of the item before and after the write (DynamoDB bills a write by
    that): the wrapper reads the item with the unrecorded client around each write. Everything
    else (``meta``, control-plane calls, paginators) goes to the wrapped client unrecorded.
    """

    def __init__(self, client: Any, *, key_names: tuple[str, str] = KEY_NAMES) -> None:
        self._client = client
        self._keys = key_names
        self.calls: list[Call] = []
        self.phase = "request"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @contextmanager
    def phase_of(self, phase: str) -> Iterator[None]:
        before, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = before

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    # reads ---------------------------------------------------------------------------------------

    def get_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "GetItem")
        response = self._send(call, self._client.get_item, kwargs)
        size = item_size(response.get("Item"))
        call.items_read, call.bytes_read = (1 if "Item" in response else 0), size
        call.read_units = read_units(size, consistent=bool(kwargs.get("ConsistentRead")))
        return response

    def query(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "Query")
        response = self._send(call, self._client.query, kwargs)
        size = sum(item_size(item) for item in response.get("Items", []))
        call.items_read, call.bytes_read = len(response.get("Items", [])), size
        call.read_units = read_units(size, consistent=bool(kwargs.get("ConsistentRead")))
        return response

    def batch_get_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "BatchGetItem")
        response = self._send(call, self._client.batch_get_item, kwargs)
        for table, request in kwargs["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead"))
            found = {_ref(self._key_of(item)): item for item in response.get("Responses", {}).get(table, [])}
            unprocessed = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            done = [key for key in request["Keys"] if key not in unprocessed]
            for key in done:  # a key that is not there still costs the minimum read
                size = item_size(found.get(_ref(self._key_of(key))))
                call.bytes_read += size
                call.read_units += read_units(size, consistent=consistent)
            call.items_read += len(found)
        return response

    # writes --------------------------------------------------------------------------------------

    def put_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "PutItem")
        key = self._key_of(kwargs["Item"])
        before = self._peek(kwargs["TableName"], key)
        try:
            return self._send(call, self._client.put_item, kwargs)
        finally:
            self._written(call, max(before, item_size(kwargs["Item"])), key)

    def update_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "UpdateItem")
        before = self._peek(kwargs["TableName"], kwargs["Key"])
        try:
            return self._send(call, self._client.update_item, kwargs)
        finally:
            after = self._peek(kwargs["TableName"], kwargs["Key"])
            self._written(call, max(before, after, 1), kwargs["Key"])

    def delete_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "DeleteItem")
        before = self._peek(kwargs["TableName"], kwargs["Key"])
        try:
            return self._send(call, self._client.delete_item, kwargs)
        finally:
            self._written(call, max(before, 1), kwargs["Key"])

    def batch_write_item(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "BatchWriteItem")
        sizes: list[tuple[str, dict[str, Any], int]] = []
        for table, requests in kwargs["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    key = self._key_of(item)
                    sizes.append((table, key, max(self._peek(table, key), item_size(item))))
                else:
                    key = request["DeleteRequest"]["Key"]
                    sizes.append((table, key, max(self._peek(table, key), 1)))
        response = self._send(call, self._client.batch_write_item, kwargs)
        unprocessed = {
            (table, _ref(self._key_of(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])))
            for table, requests in response.get("UnprocessedItems", {}).items()
            for r in requests
        }
        for table, key, size in sizes:
            if (table, _ref(key)) not in unprocessed:
                self._written(call, size, key)
        return response

    def transact_write_items(self, **kwargs: Any) -> Any:
        call = Call(self.phase, "TransactWriteItems")
        parts: list[tuple[str, str, dict[str, Any], int]] = []
        for entry in kwargs["TransactItems"]:
            (kind, body), *_ = entry.items()
            key = self._key_of(body["Item"]) if kind == "Put" else body["Key"]
            before = self._peek(body["TableName"], key)
            parts.append((kind, body["TableName"], key, max(before, item_size(body.get("Item")))))
        try:
            return self._send(call, self._client.transact_write_items, kwargs)
        finally:
            for kind, table, key, size in parts:
                billed = max(size, self._peek(table, key)) if kind == "Update" else size
                self._written(call, max(billed, 1), key, transactional=True)

    # helpers -------------------------------------------------------------------------------------

    def _send(self, call: Call, method: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        self.calls.append(call)
        request = {"ReturnConsumedCapacity": "TOTAL", **kwargs}
        try:
            response = method(**request)
        except Exception:
            call.failed = True  # a failed condition still consumes write units (counted by the caller)
            raise
        call.engine_units = _consumed(response.get("ConsumedCapacity"))
        response.pop("ConsumedCapacity", None)
        return response

    def _written(
        self, call: Call, size: int, key: dict[str, Any] | None = None, *, transactional: bool = False
    ) -> None:
        units = write_units(size) * (2 if transactional else 1)
        call.families.append(family(key))
        call.items_written += 1
        call.transactional_items += 1 if transactional else 0
        call.write_units += units
        call.item_sizes.append(size)

    def _key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._keys if name in item}

    def _peek(self, table: str, key: dict[str, Any]) -> int:
        response = self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
        return item_size(response.get("Item"))


def family(key: dict[str, Any] | None) -> str:
    """What an item is, from its key: ``record``/``seen``/``marker``, ``index:<kind>``, ``counter``."""
    if not key:
        return "?"
    pk, sk = key.get("pk", {}).get("S", ""), key.get("sk", {}).get("S", "")
    if pk.startswith("TASK#"):
        return {"TASK": "record", "SEEN": "seen", "INDEXED": "marker"}.get(sk, sk)
    if pk.startswith("IX#"):
        return "index:" + pk.split("#")[1]
    return "counter" if pk.startswith("SUM#") else pk.split("#")[0]


def _ref(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _consumed(value: Any) -> float | None:
    if value is None:
        return None
    entries = value if isinstance(value, list) else [value]
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))


def summarize(calls: list[Call]) -> dict[str, Any]:
    """Totals of a list of calls: reads, write calls, items, transactional items, units, sizes."""
    writes = [call for call in calls if call.is_write]
    reads = [call for call in calls if call.is_read]
    engine_reads = [call.engine_units for call in reads if call.engine_units is not None]
    engine_writes = [call.engine_units for call in writes if call.engine_units is not None]
    sizes = [size for call in writes for size in call.item_sizes]
    return {
        "read_calls": len(reads),
        "read_units": sum(call.read_units for call in reads),
        "items_read": sum(call.items_read for call in reads),
        "write_calls": len(writes),
        "items_written": sum(call.items_written for call in writes),
        "transactional_items": sum(call.transactional_items for call in writes),
        "write_units": sum(call.write_units for call in writes),
        "bytes_written": sum(sizes),
        "largest_item_bytes": max(sizes, default=0),
        "operations": dict(sorted(_count(call.operation for call in calls).items())),
        "items_by_family": dict(sorted(_count(f for call in writes for f in call.families).items())),
        "engine_read_units": round(sum(engine_reads), 2) if engine_reads else None,
        "engine_write_units": round(sum(engine_writes), 2) if engine_writes else None,
    }


def _count(names: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for name in names:
        counts[name] += 1
    return counts


# -- the engines ----------------------------------------------------------------------------------


@contextmanager
def engine() -> Iterator[tuple[str, Any]]:
    """A boto3 DynamoDB client on DynamoDB Local (preferred) or moto, with the bench table created."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (a local engine's placeholder credentials)
        AWS_DEFAULT_REGION="us-east-1",
    )
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_PROFILE"):
        os.environ.pop(name, None)
    import boto3

    from core.store.schema import create_table_request
    from taskbeacon.local.aws.engine import DynamoDBLocalEngine, EngineUnavailable

    local: Any = None
    if os.environ.get("TASKBEACON_BENCH_ENGINE", "dynamodb-local") == "dynamodb-local":
        try:
            local = DynamoDBLocalEngine(shared_db=True)
            local.start()
        except EngineUnavailable as error:
            print(f"store: DynamoDB Local unavailable ({error}); moto instead", file=sys.stderr)
            local = None
    if local is not None:
        try:
            client = boto3.client("dynamodb", endpoint_url=local.endpoint, region_name="us-east-1")
            client.create_table(**create_table_request(TABLE))
            yield "dynamodb-local", client
        finally:
            local.stop()
        return
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(TABLE))
        yield "moto", client


# -- the measurement ------------------------------------------------------------------------------


@dataclass
class Harness:
    raw: Any
    client: RecordingClient
    recorder: Any
    indexer: Any
    query: Any
    pump: Any
    invocations: int = 0
    records_to_indexer: int = 0

    def index(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The indexer handler's body (handlers/indexer.py) on the recording client; the event
        source mapping's filter (sk = "TASK") is applied first, as Lambda applies it."""
        from handlers.indexer import index_batch

        records = [r for r in event["Records"] if r["dynamodb"]["Keys"].get("sk", {}).get("S") == "TASK"]
        if not records:
            return {"batchItemFailures": []}
        self.invocations += 1
        self.records_to_indexer += len(records)
        with self.client.phase_of("indexer"):
            return index_batch({"Records": records}, self.indexer, lambda _poison, _source: False)

    def settle(self) -> None:
        self.pump.drain()


def harness(raw: Any) -> Harness:
    from core.logic.indexer import Indexer
    from core.logic.publishing import ChangeEventPublishing
    from core.logic.query import QueryService
    from core.logic.recording import Recorder
    from core.publish import MemoryBus
    from core.store.digests import ChangeEventStore
    from core.store.index import IndexStore
    from core.store.schema import PARTITION_KEY, SORT_KEY
    from core.store.tasks import TaskStore
    from taskbeacon.local.aws.stream_pump import StreamPump

    assert (PARTITION_KEY, SORT_KEY) == KEY_NAMES
    client = RecordingClient(raw)
    recorder = Recorder(TaskStore(TABLE, client=client), retention_days=30, history_limit=50)
    # Change events out are on by default (a bus of the stack's own): their registry and marks are
    # written to the table and counted with the indexer's writes; the bus itself is in memory here.
    indexer = Indexer(
        TaskStore(TABLE, client=client, sleep=lambda _: None),
        IndexStore(TABLE, client=client, sleep=lambda _: None),
        change_events=ChangeEventPublishing(ChangeEventStore(TABLE, client=client), MemoryBus()),
    )
    query = QueryService(
        TaskStore(TABLE, client=client),
        IndexStore(TABLE, client=client),
        keepalive_seconds=86_400,
        history_limit=50,
    )
    bench = Harness(raw, client, recorder, indexer, query, None)
    bench.pump = StreamPump(raw, TABLE, bench.index)
    return bench


def _observation(body: dict[str, Any]) -> Any:
    from core.normalize import normalize_snapshot

    (observation,) = normalize_snapshot(body)
    return observation


def _event_observation(body: dict[str, Any]) -> Any:
    from core.normalize import normalize_event

    return normalize_event(body)


KINDS = (
    "start",
    "event_running",
    "keepalive",
    "keepalive_again",
    "change",
    "stop",
    "event_stopped",
    "ttl_expiry",
)


def lifecycle(number: int, t0: datetime) -> list[tuple[str, Any, datetime]]:
    """One 1-hour task's reports in order (DESIGN section 6: launches of 1-hour tasks): (kind,
    observation, when it is recorded). Its keepalives come early here (a sidecar's come after 12 h):
    the first one creates the keepalive item, the next is what every later one costs. The change comes
    before them, as it does in a task's first 12 hours."""
    start = t0 + timedelta(seconds=number)
    _, doc = task_document(number, started=start - timedelta(seconds=20))
    ended = start + timedelta(hours=1)
    steps = [
        ("start", _observation(envelope(doc, "start", start, 1)), start),
        (
            "event_running",
            _event_observation(event(doc, "RUNNING", start + timedelta(seconds=3), start)),
            start,
        ),
        ("change", _observation(envelope(changed(doc), "change", start + timedelta(minutes=20), 2)), start),
        (
            "keepalive",
            _observation(envelope(changed(doc), "keepalive", start + timedelta(minutes=30), 3)),
            start,
        ),
        (
            "keepalive_again",
            _observation(envelope(changed(doc), "keepalive", start + timedelta(minutes=40), 4)),
            start,
        ),
        ("stop", _observation(envelope(stopping(changed(doc)), "stop", ended, 5)), ended),
        (
            "event_stopped",
            _event_observation(event(doc, "STOPPED", ended + timedelta(seconds=30), start)),
            ended,
        ),
    ]
    return [(kind, observation, at + timedelta(seconds=40)) for kind, observation, at in steps]


def measure_kinds(bench: Harness, t0: datetime) -> dict[str, dict[str, Any]]:
    """Each report alone: its request-path calls, then the indexer's calls for the stream it caused."""
    per_kind: dict[str, dict[str, list[Call]]] = {kind: {"request": [], "indexer": []} for kind in KINDS}
    outcomes: dict[str, list[str]] = {kind: [] for kind in KINDS}
    invocations: dict[str, int] = dict.fromkeys(KINDS, 0)
    for number in range(1, TASKS_PER_KIND + 1):
        for kind, observation, now in lifecycle(number, t0):
            bench.client.take()
            before = bench.invocations
            outcome = bench.recorder.apply(observation, now=now)
            request = bench.client.take()
            bench.settle()
            indexer = bench.client.take()
            per_kind[kind]["request"] += request
            per_kind[kind]["indexer"] += indexer
            outcomes[kind].append(outcome.kind)
            invocations[kind] += bench.invocations - before
        # RETENTION later TTL deletes the stopped record (free, no write units); the indexer then
        # removes what the task left: its entries, marker and keepalive item.
        from core.store import keys

        identity = outcome.identity
        bench.raw.delete_item(TableName=TABLE, Key=keys.record_key(identity))
        before = bench.invocations
        bench.settle()
        per_kind["ttl_expiry"]["indexer"] += bench.client.take()
        outcomes["ttl_expiry"].append("ttl-delete(free)")
        invocations["ttl_expiry"] += bench.invocations - before
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        row: dict[str, Any] = {"written": sorted(set(outcomes[kind]))}
        for phase in ("request", "indexer"):
            totals = summarize(per_kind[kind][phase])
            row[phase] = _per_report(totals, TASKS_PER_KIND)
        row["indexer"]["invocations"] = invocations[kind] / TASKS_PER_KIND
        out[kind] = row
    return out


def _per_report(totals: dict[str, Any], reports: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in totals.items():
        if name in ("operations", "items_by_family"):
            out[name] = {op: round(n / reports, 2) for op, n in value.items()}
        elif name == "largest_item_bytes" or value is None:
            out[name] = value
        else:
            out[name] = round(value / reports, 2)
    return out


def measure_batched(bench: Harness, t0: datetime) -> dict[str, Any]:
    """BATCH_TASKS starts recorded, then one drain; the same for their stops: the indexer per task."""
    first = 1_000
    docs = [task_document(n, started=t0)[1] for n in range(first, first + BATCH_TASKS)]
    out: dict[str, Any] = {}
    for kind, make in (
        ("start", lambda d, at: envelope(d, "start", at, 1)),
        ("stop", lambda d, at: envelope(stopping(d), "stop", at + timedelta(days=7), 4)),
    ):
        observations = [_observation(make(doc, t0)) for doc in docs]
        bench.client.take()
        invocations = bench.invocations
        bench.recorder.apply_all(observations, now=t0 + timedelta(days=8))
        bench.client.take()
        bench.settle()
        totals = summarize(bench.client.take())
        row = _per_report(totals, BATCH_TASKS)
        row["invocations"] = bench.invocations - invocations
        row["tasks"] = BATCH_TASKS
        out[kind] = row
    return out


def measure_reads(bench: Harness, t0: datetime) -> dict[str, Any]:
    """A fleet of FLEET running tasks, then pages of GET /tasks and the /summary reads."""
    observations = []
    for number in range(10_000, 10_000 + FLEET):
        _, doc = task_document(number, "batch" if number % 3 == 0 else "default", t0)
        observations.append(_observation(envelope(doc, "start", t0 + timedelta(seconds=number % 600), 1)))
    for start in range(0, len(observations), 200):
        bench.recorder.apply_all(observations[start : start + 200], now=t0 + timedelta(hours=1))
        bench.settle()
    bench.client.take()
    # Read an hour after the fleet reported, as an operator would: a page reads a task's keepalive
    # item only when its record alone would make it look stale (core/logic/query.py).
    bench.query.clock = lambda: t0 + timedelta(hours=2)
    out: dict[str, Any] = {"fleet": FLEET + TASKS_PER_KIND + BATCH_TASKS, "page_size": PAGE}
    for name, fetch in (
        ("list_all", lambda c: bench.query.list_tasks({}, since=None, limit=PAGE, cursor=c)),
        (
            "list_cluster_running",
            lambda c: bench.query.list_tasks(
                {"cluster": "default", "status": "RUNNING"}, since=None, limit=PAGE, cursor=c
            ),
        ),
    ):
        cursor, pages = None, []
        for _ in range(PAGES):
            with bench.client.phase_of("query"):
                page = fetch(cursor)
            totals = summarize(bench.client.take())
            pages.append(
                {
                    "items": len(page.items),
                    "read_calls": totals["read_calls"],
                    "items_read": totals["items_read"],
                    "read_units": totals["read_units"],
                    "engine_read_units": totals["engine_read_units"],
                }
            )
            cursor = page.next_cursor
            if cursor is None:
                break
        out[name] = pages
    with bench.client.phase_of("query"):
        summary = bench.query.summary("cluster")
    totals = summarize(bench.client.take())
    out["summary_cluster"] = {
        "groups": len(summary["groups"]),
        "read_calls": totals["read_calls"],
        "items_read": totals["items_read"],
        "read_units": totals["read_units"],
        "engine_read_units": totals["engine_read_units"],
    }
    return out


def measure_storage(raw: Any) -> dict[str, Any]:
    """Bytes per item kind in the table (for the storage line of the cost model)."""
    sizes: dict[str, list[int]] = defaultdict(list)
    request: dict[str, Any] = {"TableName": TABLE}
    while True:
        response = raw.scan(**request)
        for item in response["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            kind = sk if pk.startswith("TASK#") else pk.split("#", 1)[0]
            sizes[kind].append(item_size(item))
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return {
        kind: {"items": len(v), "mean_bytes": round(sum(v) / len(v))} for kind, v in sorted(sizes.items())
    }


def run() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    with engine() as (name, raw):
        bench = harness(raw)
        kinds = measure_kinds(bench, t0)
        batched = measure_batched(bench, t0)
        reads = measure_reads(bench, t0)
        storage = measure_storage(raw)
    return {
        "engine": name,
        "engine_note": "DynamoDB Local reports ConsumedCapacity size-aware; moto's is constant",
        "tasks_per_kind": TASKS_PER_KIND,
        "kinds": kinds,
        "batched_indexer": batched,
        "reads": reads,
        "storage": storage,
        "payload": "v4-taskwithtags-ec2-awsvpc.json + 3 app containers (pause kept); sidecar envelope "
        "with its container document; events from eventbridge-task-state-change-fargate-running.json",
    }


def table(results: dict[str, Any]) -> str:
    """The per-kind table (request path and indexer), as printed by ``python -m benchmarks.store``."""
    head = (
        f"{'report':<14} {'path':<8} {'reads':>5} {'RRU':>5} {'writes':>6} {'items':>5} "
        f"{'txn':>4} {'WRU':>5} {'engWRU':>6} {'bytes':>6}  written"
    )
    lines = [f"engine: {results['engine']}", head, "-" * len(head)]
    for kind, row in results["kinds"].items():
        for phase in ("request", "indexer"):
            r = row[phase]
            engine_units = "-" if r["engine_write_units"] is None else f"{r['engine_write_units']:g}"
            lines.append(
                f"{kind:<14} {phase:<8} {r['read_calls']:>5g} {r['read_units']:>5g} {r['write_calls']:>6g} "
                f"{r['items_written']:>5g} {r['transactional_items']:>4g} {r['write_units']:>5g} "
                f"{engine_units:>6} {r['bytes_written']:>6g}  "
                + (",".join(row["written"]) if phase == "request" else f"invocations {r['invocations']:g}")
            )
    for kind, r in results["batched_indexer"].items():
        lines.append(
            f"indexer, {r['tasks']} {kind}s in one drain ({r['invocations']} invocations), per task: "
            f"reads {r['read_calls']:g} ({r['read_units']:g} RRU), write calls {r['write_calls']:g}, "
            f"items {r['items_written']:g}, WRU {r['write_units']:g}"
        )
    reads = results["reads"]
    for name in ("list_all", "list_cluster_running"):
        for number, page in enumerate(reads[name], 1):
            lines.append(
                f"GET /tasks {name} page {number}: {page['items']} tasks, {page['read_calls']} reads, "
                f"{page['items_read']} items read, {page['read_units']:g} RRU "
                f"(engine {page['engine_read_units']})"
            )
    s = reads["summary_cluster"]
    lines.append(
        f"GET /summary?by=cluster: {s['groups']} groups, {s['read_calls']} reads, {s['items_read']} items, "
        f"{s['read_units']:g} RRU (engine {s['engine_read_units']})"
    )
    return "\n".join(lines)


def save(measured: dict[str, Any]) -> Path:
    """Write the store results and the cost model into results/latest.json, keeping other keys."""
    from benchmarks import cost

    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    path = out / "latest.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results["store"] = measured
    results["cost"] = cost.run(measured)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(cost.report(results["cost"]))
    return path


if __name__ == "__main__":
    measured = run()
    print(table(measured))
    print(f"written to {save(measured)}")
