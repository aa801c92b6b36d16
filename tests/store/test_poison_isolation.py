"""No index entry is lost to one bad record, and ``reindex`` brings the bad one back.

500 tasks are written, and their stream records are delivered to the real indexer handler body
through ``tests/store/esm.py``, a stand-in for Lambda's event source mapping as AWS documents it
(split on function error, resume from a partial batch response, on-failure destination after the
retries). One record is poison. Only that task may be left unindexed, and the failure queue must name
it (the indexer parks it) or at least hold its stream position alone (parking unavailable: Lambda's
own on-failure record, which reindex resolves through the stream). Then reindex re-derives it from
the stored record, and a second reindex changes nothing.

The expected state is computed from the records alone (``core.logic.indexer.wanted``), so every
entry of the 500 tasks is checked, not only the poison task's, and the summary counts every running
task the index holds.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from core.logic import indexer as indexer_module
from core.logic.failures import ParkedTask, StreamRange, read_failure
from core.logic.indexer import Indexer, wanted
from core.logic.lease import first_lease
from core.logic.query import QueryService
from core.logic.reindex import Reindexer, tasks_in_stream_range
from core.model import StoredTask, Task, TaskRecord, task_identity
from core.store.index import IndexStore
from core.store.records import index_item, record_item, stored_task
from core.store.tasks import TaskStore
from handlers.indexer import Poison, index_batch
from infra.indexing import BATCH_SIZE, RETRY_ATTEMPTS
from taskbeacon.local.aws.stream_pump import StreamPump
from tests.store.builders import ACCOUNT, T0
from tests.store.esm import EventSourceMapping
from tests.store.inventory import all_items

TABLE = "tasks"
TASKS = BATCH_SIZE  # one full batch
POISON_AT = 317


@dataclass
class FailureQueue:
    """The indexer's failure queue as the handler sees it: parking works, or is unavailable."""

    works: bool = True
    messages: list[str] = field(default_factory=list)

    def park(self, poison: Poison, source: str | None) -> bool:
        if not self.works:
            return False
        from core.logic.failures import parked_message

        self.messages.append(parked_message(poison.identity, poison.sequence, poison.reason, source))
        return True


class Stream:
    """The table's real stream, filtered as the mapping filters it (task records only)."""

    def __init__(self, client: Any) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.pump = StreamPump(client, TABLE, self._capture)

    def _capture(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        self.batches.append([r for r in event["Records"] if r["dynamodb"]["Keys"]["sk"]["S"] == "TASK"])
        return {"batchItemFailures": []}

    def new_records(self) -> list[dict[str, Any]]:
        self.batches = []
        self.pump.drain()
        return [record for batch in self.batches for record in batch]

    def shard(self) -> str:
        shards = self.pump.streams.describe_stream(StreamArn=self.pump.stream_arn)["StreamDescription"]
        (only,) = shards["Shards"]  # every record of this test is on one shard
        return str(only["ShardId"])


def _task(number: int) -> Task:
    """A small task (8 entries, 3 counters): moto reads and writes per attribute, and 500 add up."""
    task_id = f"{number:032x}"
    return Task(
        task_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/c{number % 3}/{task_id}",
        task_id=task_id,
        account_id=ACCOUNT,
        region="us-east-1",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/c{number % 3}",
        cluster_name=f"c{number % 3}",
        last_status="RUNNING",
        started_at=T0,
        first_seen_at=T0 + timedelta(seconds=number),
    )


def _write_tasks(client: Any, count: int = TASKS) -> list[str]:
    """Task records as the request path stores them (written in batches: the test is about the indexer)."""
    identities = []
    requests = []
    for number in range(1, count + 1):
        t = _task(number)
        identity = task_identity(t)
        identities.append(identity)
        record = TaskRecord(task=t, revision=1, lease_until=first_lease(T0, 30))
        item = record_item(identity, record, [], None)
        requests.append({"PutRequest": {"Item": item}})
    for start in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={TABLE: requests[start : start + 25]})
    return identities


def _poisoned(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    bad = json.loads(json.dumps(records))
    bad[at]["dynamodb"]["NewImage"]["body"]["B"] = _body('{"doc":{"taskArn":7},"hist":[]}')  # not a task
    return bad


def _body(text: str) -> str:
    """A record body as a Lambda stream event carries it (base64 of the compressed JSON)."""
    return base64.b64encode(zlib.compress(text.encode())).decode()


@dataclass(frozen=True)
class Snapshot:
    """The whole table once (a test-only Scan), and what it says about the index."""

    items: list[dict[str, Any]]

    @classmethod
    def of(cls, client: Any) -> Snapshot:
        return cls(all_items(client, TABLE))

    def stored(self) -> list[StoredTask]:
        tasks = [stored_task([item]) for item in self.items if item["sk"]["S"] == "TASK"]
        return [t for t in tasks if t is not None]

    def entries(self) -> dict[tuple[str, str], Any]:
        return {(i["pk"]["S"], i["sk"]["S"]): i for i in self.items if i["pk"]["S"].startswith("IX#")}

    def unindexed(self) -> set[str]:
        """Tasks whose stored entries are not all those their stored record wants."""
        entries = self.entries()
        return {
            t.identity
            for t in self.stored()
            if any(
                entries.get((e.partition, e.sort)) != index_item(e)
                for e in wanted(t.record, t.identity).values()
            )
        }

    def expected(self, *, leaving_out: set[str]) -> dict[tuple[str, str], Any]:
        """Every entry the stored records want (``leaving_out`` tasks add none)."""
        entries: dict[tuple[str, str], Any] = {}
        for t in self.stored():
            if t.identity in leaving_out:
                continue
            for entry in wanted(t.record, t.identity).values():
                entries[(entry.partition, entry.sort)] = index_item(entry)
        return entries

    def exact_except(self, left_out: set[str], client: Any) -> None:
        assert self.unindexed() == left_out
        assert self.entries() == self.expected(leaving_out=left_out)
        # The summary, counted on read, holds every running task the index holds, no other.
        query = QueryService(
            TaskStore(TABLE, client=client),
            IndexStore(TABLE, client=client),
            keepalive_seconds=900,
            history_limit=5,
        )
        assert query.summary("status")["total"] == len(self.stored()) - len(left_out)


class Writes:
    """The client, counting the calls that write."""

    WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")

    def __init__(self, client: Any) -> None:
        self._client = client
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self.WRITES:
            return attribute

        def counted(**request: Any) -> Any:
            self.count += 1
            return attribute(**request)

        return counted


def _reindex_named(client: Any, stream: Stream, queue: FailureQueue, esm: EventSourceMapping) -> list[str]:
    """What ``taskbeacon reindex --failure-queue`` reads: parked task keys, or ranges via the stream."""
    named: list[str] = []
    letters = [json.dumps(letter) for letter in esm.on_failure]
    for body in [*queue.messages, *letters]:
        failure = read_failure(body)
        if isinstance(failure, ParkedTask):
            named.append(failure.identity)
        else:
            assert isinstance(failure, StreamRange)
            named += tasks_in_stream_range(stream.pump.streams, failure)
    return named


def _isolate(
    client: Any, count: int, poison_at: int, *, parking: bool, splits_count: bool
) -> tuple[list[str], Stream, FailureQueue, EventSourceMapping, list[dict[str, Any]]]:
    identities = _write_tasks(client, count)
    stream = Stream(client)
    records = stream.new_records()
    assert len(records) == count
    assert records[poison_at]["dynamodb"]["Keys"]["pk"]["S"] == f"TASK#{identities[poison_at]}"
    indexer = Indexer(
        TaskStore(TABLE, client=client, sleep=lambda _: None),
        IndexStore(TABLE, client=client, sleep=lambda _: None),
    )
    queue = FailureQueue(works=parking)
    esm = EventSourceMapping(
        lambda event, _: index_batch(event, indexer, queue.park),
        batch_size=BATCH_SIZE,
        retry_attempts=RETRY_ATTEMPTS,
        splits_count_as_retries=splits_count,
        stream_arn=stream.pump.stream_arn,
        shard_id=stream.shard(),
    )
    esm.deliver(_poisoned(records, poison_at))
    return identities, stream, queue, esm, records


def test_a_poison_record_in_a_batch_of_500_leaves_one_task_unindexed_until_reindex(dynamodb: Any) -> None:
    identities, stream, queue, esm, records = _isolate(
        dynamodb, TASKS, POISON_AT, parking=True, splits_count=False
    )
    poison = identities[POISON_AT]

    # Exactly one task is unindexed; every entry of the 499 others is exact.
    Snapshot.of(dynamodb).exact_except({poison}, dynamodb)
    # Isolating it took one split per halving (9 for 500), not one retry of the 499 others.
    assert (esm.function_errors, esm.invocations) == (9, 19)
    assert esm.on_failure == []
    (message,) = queue.messages
    parked = read_failure(message)
    assert isinstance(parked, ParkedTask) and parked.identity == poison
    assert parked.sequence == records[POISON_AT]["dynamodb"]["SequenceNumber"]
    assert parked.reason.startswith("ValidationError")

    # reindex: the tasks the failure queue names, re-derived from their stored records.
    named = _reindex_named(dynamodb, stream, queue, esm)
    assert named == [poison]
    reindexer = Reindexer(TaskStore(TABLE, client=dynamodb), IndexStore(TABLE, client=dynamodb))
    report = reindexer.run(named, settle=lambda: esm.deliver(stream.new_records()), wait_seconds=0)
    assert report.ok and report.requested == [poison] and report.settled == [poison]
    Snapshot.of(dynamodb).exact_except(set(), dynamodb)

    # Idempotent: a second reindex, of every task, finds them in sync and writes nothing at all.
    writes = Writes(dynamodb)
    again = Reindexer(TaskStore(TABLE, client=writes), IndexStore(TABLE, client=writes)).run(
        identities, settle=lambda: esm.deliver(stream.new_records()), wait_seconds=0
    )
    assert again.ok and again.requested == [] and len(again.in_sync) == TASKS
    assert writes.count == 0


@pytest.mark.parametrize("parking", [True, False], ids=["parked", "parking-unavailable"])
@pytest.mark.parametrize("splits_count", [False, True], ids=["splits-free", "splits-use-retries"])
def test_isolation_holds_whether_splits_use_retries_and_whether_parking_works(
    dynamodb: Any, parking: bool, splits_count: bool
) -> None:
    """The same at 64 records (6 splits), under both readings of the guide, with and without parking."""
    identities, stream, queue, esm, records = _isolate(
        dynamodb, 64, 37, parking=parking, splits_count=splits_count
    )
    poison = identities[37]
    Snapshot.of(dynamodb).exact_except({poison}, dynamodb)
    assert esm.function_errors == 6
    sequence = records[37]["dynamodb"]["SequenceNumber"]
    if parking:
        assert esm.on_failure == [] and len(queue.messages) == 1
    else:
        # Parking unavailable: the record is reported failed, alone, until Lambda gives up on it.
        assert queue.messages == []
        (letter,) = esm.on_failure
        info = letter["DDBStreamBatchInfo"]
        assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
            1,
            sequence,
            sequence,
        )
    named = _reindex_named(dynamodb, stream, queue, esm)  # a range is read back from the stream
    assert named == [poison]
    reindexer = Reindexer(TaskStore(TABLE, client=dynamodb), IndexStore(TABLE, client=dynamodb))
    report = reindexer.run(named, settle=lambda: esm.deliver(stream.new_records()), wait_seconds=0)
    assert report.ok and report.settled == [poison]
    Snapshot.of(dynamodb).exact_except(set(), dynamodb)


def test_a_record_the_indexer_cannot_plan_is_isolated_and_reindexed_after_the_fix(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug for one task shape (planning raises) is poison too; once fixed, reindex repairs the task."""
    identities = _write_tasks(dynamodb, 60)
    stream = Stream(dynamodb)
    records = stream.new_records()
    bad = identities[41]
    real = indexer_module.wanted_entries

    def buggy(t: Any) -> Any:
        if task_identity(t) == bad:
            raise KeyError("containers")
        return real(t)

    monkeypatch.setattr(indexer_module, "wanted_entries", buggy)
    indexer = Indexer(
        TaskStore(TABLE, client=dynamodb, sleep=lambda _: None),
        IndexStore(TABLE, client=dynamodb, sleep=lambda _: None),
    )
    queue = FailureQueue()
    esm = EventSourceMapping(lambda event, _: index_batch(event, indexer, queue.park))
    esm.deliver(records)
    (message,) = queue.messages
    parked = read_failure(message)
    assert isinstance(parked, ParkedTask) and parked.identity == bad and "KeyError" in parked.reason

    monkeypatch.setattr(indexer_module, "wanted_entries", real)  # the fix is deployed
    Snapshot.of(dynamodb).exact_except({bad}, dynamodb)
    reindexer = Reindexer(TaskStore(TABLE, client=dynamodb), IndexStore(TABLE, client=dynamodb))
    report = reindexer.run([bad], settle=lambda: esm.deliver(stream.new_records()), wait_seconds=0)
    assert report.ok and report.settled == [bad]
    Snapshot.of(dynamodb).exact_except(set(), dynamodb)


def test_without_isolation_the_records_behind_a_poison_record_would_be_lost(dynamodb: Any) -> None:
    """The behaviour this replaces: reporting the poison record as a batch item failure."""
    identities = _write_tasks(dynamodb, 40)
    stream = Stream(dynamodb)
    records = json.loads(json.dumps(stream.new_records()))
    records[10]["dynamodb"]["NewImage"]["body"]["B"] = _body("{")
    indexer = Indexer(
        TaskStore(TABLE, client=dynamodb, sleep=lambda _: None),
        IndexStore(TABLE, client=dynamodb, sleep=lambda _: None),
    )

    def old_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        from core.store.stream import decode

        changes, broken = decode(event)
        result = indexer.apply(changes)
        failed = sorted([*result.failed_sequences, *(b.sequence for b in broken)], key=int)[:1]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}

    esm = EventSourceMapping(old_handler, retry_attempts=2)
    esm.deliver(records)
    # The poison record is retried with every record behind it, never alone, and they all go to the
    # on-failure destination together: one message for 30 records, which says nothing of the tasks.
    (letter,) = esm.on_failure
    assert letter["DDBStreamBatchInfo"]["batchSize"] == 30
    assert esm.function_errors == 0 and esm.invocations == 3
    assert identities[10] in Snapshot.of(dynamodb).unindexed()
