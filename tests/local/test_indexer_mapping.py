"""Local mode's indexer when the engine's tables are in a child process (``tables_in_child=True``, as
`taskbeacon local` runs it): the indexer does not run in local mode's process, yet a report is indexed
by the time local mode settles, the change events it publishes reach local mode's in-process bus (and
``GET /_local/events/published``), and a stopped local mode's pump says so instead of hanging.

Only the pump's public face is used (``drain``, ``pending``, ``dead_letters``, ``stream_arn``,
``streams``), with ``settle``, the gateway and ``core.publish.local_bus()``: where the indexer runs
(beside the tables or in a process of its own) is not assumed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from taskbeacon.local.aws.engine_process import EngineGone
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import posted_task
from tests.http.localapi import send

WAIT = 30.0  # seconds a call may take on a loaded machine before it counts as a hang (never asserted)
EVENTS = "/_local/events/published"


@contextmanager
def _local_mode() -> Iterator[LocalSystem]:
    """Local mode with its tables in a child process, stopped after use."""
    saved = dict(os.environ)
    try:
        system = LocalSystem(port=0, tables_in_child=True).start()
        try:
            yield system
        finally:
            system.stop()
    finally:
        _restore(saved)


def _restore(saved: dict[str, str]) -> None:
    """The environment as it was before local mode started (``start`` sets the handlers' variables in
    ``os.environ``), and no handler client left on the stopped engine."""
    os.environ.clear()
    os.environ.update(saved)
    from core.store import dynamo
    from handlers import wiring

    dynamo.client.cache_clear()
    wiring.reset()


@pytest.fixture(scope="module")
def local() -> Iterator[LocalSystem]:
    with _local_mode() as system:
        yield system


@pytest.fixture(scope="module")
def operator(local: LocalSystem) -> dict[str, str]:
    return _operator_of(local)


def _operator_of(system: LocalSystem) -> dict[str, str]:
    return {"AccessKeyId": system.operator.access_key, "SecretAccessKey": system.operator.secret_key}


def _task_id(task: dict[str, Any]) -> str:
    return str(task["TaskARN"]).rsplit("/", 1)[-1]


def _published(local: LocalSystem, operator: dict[str, str], after: int = 0) -> dict[str, Any]:
    reply = send(local.url, "GET", f"{EVENTS}?after={after}", credentials=operator, region=local.region)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _in_time(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in a thread: what it raised (None if nothing); a call still running after WAIT
    seconds fails the test (a hang) instead of hanging it."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"{call!r} still running after {WAIT} s"
    return raised[0] if raised else None


# -- the indexer, away from local mode's process ---------------------------------------------------


def test_a_report_is_indexed_though_the_indexer_in_this_process_would_fail(
    local: LocalSystem, operator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing by cluster reads index entries, which only the indexer writes: with the indexer
    running in this process, the same report is not found (it is dead-lettered after retries)."""
    import handlers.indexer  # importable: local mode put lambdas/ on sys.path when it started

    calls: list[object] = []

    def failing(event: dict[str, Any], context: Any) -> Any:
        calls.append(event)
        raise RuntimeError("the indexer ran in the test's process")

    monkeypatch.setattr(handlers.indexer, "handler", failing)
    assert local.stream is not None
    letters = len(local.stream.dead_letters)
    cluster, task = posted_task(local, operator, "ixq")
    local.settle()

    listed = send(local.url, "GET", f"/tasks?cluster={cluster}", credentials=operator)
    assert listed.status == 200, listed.body
    assert [item["taskId"] for item in listed.body["items"]] == [_task_id(task)]
    shown = send(local.url, "GET", f"/tasks/{_task_id(task)}", credentials=operator)
    assert shown.status == 200, shown.body
    assert shown.body["taskArn"] == task["TaskARN"]
    assert calls == []
    assert len(local.stream.dead_letters) == letters


def test_the_change_events_of_the_indexer_reach_this_process_bus(
    local: LocalSystem, operator: dict[str, str]
) -> None:
    from core.publish import local_bus

    # The bus is this process's, shared by every local mode a test process starts.
    local_bus().clear()
    _, task = posted_task(local, operator, "ixe")
    local.settle()

    mine = [event for event in local_bus().published() if event["resources"] == [task["TaskARN"]]]
    assert "Task First Seen" in [event["detail-type"] for event in mine]
    (first,) = [event for event in mine if event["detail-type"] == "Task First Seen"]
    assert first["detail"]["taskId"] == _task_id(task)
    assert first["source"] == "taskbeacon"

    answer = _published(local, operator)
    seqs = [event["seq"] for event in answer["events"]]
    assert first["seq"] in seqs
    assert all(isinstance(seq, int) for seq in seqs)
    assert seqs == sorted(set(seqs)), seqs  # increasing: none repeated, none out of order
    assert answer["last"] == seqs[-1]
    again = _published(local, operator, after=answer["last"])
    assert again == {"events": [], "last": answer["last"]}
    before_first = _published(local, operator, after=first["seq"] - 1)
    assert before_first["events"][0] == first


def test_nothing_is_pending_once_local_mode_has_settled(local: LocalSystem, operator: dict[str, str]) -> None:
    assert local.stream is not None
    letters = len(local.stream.dead_letters)
    for _ in range(3):
        posted_task(local, operator, "ixp")
    local.settle()
    assert local.stream.pending() == 0
    assert len(local.stream.dead_letters) == letters


def test_the_pump_names_the_tables_stream_and_reads_it(local: LocalSystem) -> None:
    """``stream_arn`` and ``streams`` (what ``reindex --from-failures`` reads dead letters back with)
    are the table's own stream, as DynamoDB describes it to any client."""
    assert local.stream is not None and local.dynamodb_endpoint is not None
    from taskbeacon.local.aws.engine import engine_client

    client = engine_client(local.dynamodb_endpoint, local.region)  # any client of the engine
    table = client.describe_table(TableName=local.table_name)["Table"]
    assert local.stream.stream_arn == table["LatestStreamArn"]
    described = local.stream.streams.describe_stream(StreamArn=table["LatestStreamArn"])
    assert described["StreamDescription"]["TableName"] == local.table_name
    assert described["StreamDescription"]["Shards"]


# -- the bus that adopts another process's events --------------------------------------------------


def _event(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "source": "taskbeacon",
        "detail-type": "Task First Seen",
        "time": "2026-11-28T09:00:00Z",
        "resources": [f"arn:aws:ecs:us-east-1:111122223333:task/c/{seq:032x}"],
        "detail": {"eventId": f"{seq:032x}"},
    }


def test_adopted_events_are_numbered_by_the_bus_that_keeps_them_within_its_bound() -> None:
    """Another process's bus numbers from 1: this bus numbers what it adopts after what it holds, so a
    reader polling ``after`` the last number it saw never misses them."""
    from datetime import UTC, datetime

    from core.logic.change_events import ChangeEvent
    from core.publish import MemoryBus

    bus = MemoryBus(keeps=3)
    own = ChangeEvent(
        id="e" * 32,
        kind="Task First Seen",
        identity="acct/c/t",
        task_arn="arn:aws:ecs:us-east-1:111122223333:task/c/t",
        time=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        detail={"eventId": "e" * 32},
    )
    assert bus.publish([own]) == set()
    bus.adopt([_event(1), _event(2)])  # numbered 1 and 2 where they were published
    kept = bus.published()
    assert [event["seq"] for event in kept] == [1, 2, 3]
    assert [event["detail"]["eventId"] for event in kept[1:]] == [f"{1:032x}", f"{2:032x}"]
    assert bus.published(1) == kept[1:]
    assert bus.published(3) == []

    bus.adopt([_event(1)])
    assert [event["seq"] for event in bus.published()] == [2, 3, 4]  # the oldest one dropped
    assert [event["detail"]["eventId"] for event in bus.published(3)] == [f"{1:032x}"]


# -- stopping ---------------------------------------------------------------------------------------


def test_a_stopped_local_modes_pump_raises_engine_gone_not_a_hang() -> None:
    saved = dict(os.environ)
    try:
        system = LocalSystem(port=0, tables_in_child=True).start()
        try:
            operator = _operator_of(system)
            posted_task(system, operator, "ixs")  # the background delivery may be draining as it stops
            pump = system.stream
        finally:
            stopped = _in_time(system.stop)
        assert stopped is None, repr(stopped)
        assert pump is not None
        for call in (pump.drain, pump.pending):
            error = _in_time(call)
            assert isinstance(error, EngineGone), repr(error)
    finally:
        _restore(saved)


def test_an_engine_that_dies_is_engine_gone_and_the_indexers_process_exits() -> None:
    """The indexer's link to the engine breaks: its drain says the engine has gone (not a stream
    error logged on every pass), and its process exits rather than answer every later drain alike."""
    import signal

    from taskbeacon.local.aws.engine import EmbeddedEngine
    from taskbeacon.local.aws.indexer_mapping import ChildStreamPump

    with _local_mode() as system:
        pump, engine = system.stream, system._engine
        assert isinstance(pump, ChildStreamPump) and isinstance(engine, EmbeddedEngine)
        assert engine.child is not None and engine.child._process is not None
        os.kill(engine.child._process.pid, signal.SIGKILL)
        error = _in_time(pump.drain)
        assert isinstance(error, EngineGone), repr(error)
        assert pump._process.wait(timeout=WAIT) == 0
        assert isinstance(_in_time(pump.drain), EngineGone)  # and so is every later call


def test_the_indexers_process_exits_when_local_mode_is_gone_mid_drain() -> None:
    """Local mode killed or crashed in the middle of a drain closes no channel call cleanly: the
    indexer's process sees its standard input close and exits at once, rather than go on retrying
    the drain against a stopped engine after local mode has gone."""
    from taskbeacon.local.aws.indexer_mapping import ChildStreamPump

    with _local_mode() as system:
        pump = system.stream
        assert isinstance(pump, ChildStreamPump) and pump._process.stdin is not None
        operator = _operator_of(system)
        for _ in range(3):
            posted_task(system, operator, "ixg")  # the background delivery may be in a drain now
        pump._process.stdin.close()  # what local mode's exit does to it, and nothing else
        assert pump._process.wait(timeout=WAIT) == 0


def test_a_failed_start_leaves_no_process_behind() -> None:
    """The gateway's port is taken: local mode does not start, and neither the engine's child nor the
    indexer's process is left running."""
    import socket
    import time

    before = _children()
    saved = dict(os.environ)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            with pytest.raises(OSError):
                LocalSystem(port=taken.getsockname()[1], tables_in_child=True).start()
        finally:
            _restore(saved)
    deadline = time.monotonic() + WAIT
    while (left := _children() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, {pid: _command(pid) for pid in left}


def _children() -> set[int]:
    """The running (not yet reaped, not zombie) child processes of this one, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(entry))
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def test_a_later_local_modes_events_come_after_the_last_seq_seen(
    local: LocalSystem, operator: dict[str, str]
) -> None:
    for _ in range(2):
        posted_task(local, operator, "ixa")
    local.settle()
    seen = _published(local, operator)["last"]
    assert seen >= 2
    with _local_mode() as later:
        later_operator = _operator_of(later)
        _, task = posted_task(later, later_operator, "ixb")
        later.settle()
        newer = _published(later, later_operator, after=seen)["events"]
    assert [task["TaskARN"]] in [event["resources"] for event in newer]
