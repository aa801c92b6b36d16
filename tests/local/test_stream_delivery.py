"""Local mode delivers the table's stream to the indexer in the background, as the event source
mapping does: writers answer without waiting for it, readers wait until the index is in step, a
failing batch surfaces at the next read, and stop() ends the thread. No wall-clock assertions:
each test orders its steps with events."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.stream_pump import StreamPumpError, records_of
from tests.engines import EngineTable

WAIT = 30.0  # seconds a step may take on a loaded machine before the test gives up (never asserted)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``handlers.writer`` and ``handlers.reader``: their bodies are set by each test."""
    bodies: dict[str, Any] = {}
    for name in ("writer", "reader"):
        module = types.ModuleType(f"handlers.{name}")
        module.handler = lambda event, context, name=name: bodies[name](event)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"handlers.{name}", module)
    return bodies


@pytest.fixture
def runtime_of() -> Iterator[Any]:
    made: list[LambdaRuntime] = []

    def make(stream: Any, **options: Any) -> LambdaRuntime:
        runtime = LambdaRuntime(
            stream=stream, writers=frozenset({"writer"}), readers=frozenset({"reader"}), **options
        )
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.stop(timeout=WAIT)


class _GatedPump:
    """A pump whose drain blocks until the test opens the gate."""

    on_failure = "raise"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.drains = 0

    def drain(self, *, until_quiet: bool = True) -> None:
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        self.drains += 1


def test_a_writer_answers_before_the_indexer_runs_and_a_reader_waits_for_it(
    handlers: dict[str, Any], runtime_of: Any
) -> None:
    pump = _GatedPump()
    runtime = runtime_of(pump)
    handlers["writer"] = lambda event: {"statusCode": 202}
    handlers["reader"] = lambda event: {"drains": pump.drains}
    # The drain cannot finish (the gate is shut), yet the write answers.
    assert runtime.invoke("writer", {}) == {"statusCode": 202}
    assert pump.entered.wait(WAIT)  # the background thread took it
    assert pump.drains == 0
    answers: list[Any] = []
    reader = threading.Thread(target=lambda: answers.append(runtime.invoke("reader", {})))
    reader.start()
    reader.join(0.2)
    assert answers == []  # the reader waits for the drain that covers the write
    pump.gate.set()
    reader.join(WAIT)
    assert answers == [{"drains": 1}]


def test_reads_without_writes_do_not_drain(handlers: dict[str, Any], runtime_of: Any) -> None:
    pump = _GatedPump()
    pump.gate.set()
    runtime = runtime_of(pump)
    handlers["reader"] = lambda event: "read"
    assert runtime.invoke("reader", {}) == "read"
    assert pump.drains == 0 and not runtime.delivering


def _put(engine: EngineTable, key: str) -> None:
    engine.client.put_item(TableName=engine.table_name, Item={"pk": {"S": key}, "sk": {"S": "R"}})


def test_a_read_after_a_write_sees_what_the_indexer_made_of_it(
    engine: EngineTable, handlers: dict[str, Any], runtime_of: Any
) -> None:
    indexed: list[dict[str, Any]] = []

    def indexer(event: dict[str, Any], context: Any) -> None:
        indexed.extend(records_of([event]))

    runtime = runtime_of(engine.pump(indexer))
    handlers["writer"] = lambda event: _put(engine, event["key"])
    handlers["reader"] = lambda event: sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in indexed)
    for number in range(5):
        runtime.invoke("writer", {"key": f"TASK#{number}"})
        assert runtime.invoke("reader", {}) == [f"TASK#{n}" for n in range(number + 1)]


def test_a_failing_indexer_batch_surfaces_at_the_next_read_once(
    engine: EngineTable, handlers: dict[str, Any], runtime_of: Any
) -> None:
    def indexer(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("indexer down")

    runtime = runtime_of(engine.pump(indexer, on_failure="raise", max_retries=0, bisect_on_error=False))
    handlers["writer"] = lambda event: _put(engine, "TASK#poison") or {"statusCode": 202}
    handlers["reader"] = lambda event: "read"
    assert runtime.invoke("writer", {}) == {"statusCode": 202}  # the write itself succeeded
    with pytest.raises(StreamPumpError, match="failed 1 times"):
        runtime.invoke("reader", {})
    assert runtime.invoke("reader", {}) == "read"  # reported once, then the shard moved on


def test_without_raise_errors_a_failing_drain_is_logged_not_raised(
    handlers: dict[str, Any], runtime_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        on_failure = "skip"  # local mode's pump: failures go to the (logged) dead letters

        def drain(self, *, until_quiet: bool = True) -> None:
            raise RuntimeError("engine gone")

    runtime = runtime_of(Broken())
    handlers["writer"] = lambda event: {"statusCode": 202}
    handlers["reader"] = lambda event: "read"
    assert runtime.invoke("writer", {}) == {"statusCode": 202}
    assert runtime.invoke("reader", {}) == "read"
    assert "delivering the table's stream to the indexer failed" in caplog.text


def test_stop_ends_the_thread_and_later_reads_drain_in_the_callers_thread(
    engine: EngineTable, handlers: dict[str, Any], runtime_of: Any
) -> None:
    threads: list[str] = []

    def indexer(event: dict[str, Any], context: Any) -> None:
        threads.append(threading.current_thread().name)

    runtime = runtime_of(engine.pump(indexer))
    handlers["writer"] = lambda event: _put(engine, event["key"])
    handlers["reader"] = lambda event: len(threads)
    runtime.invoke("writer", {"key": "TASK#1"})
    assert runtime.invoke("reader", {}) == 1 and runtime.delivering
    runtime.stop(timeout=WAIT)
    assert not runtime.delivering
    assert not any(t.name == "taskbeacon-stream" and t.is_alive() for t in threading.enumerate())
    runtime.invoke("writer", {"key": "TASK#2"})
    assert runtime.invoke("reader", {}) == 2
    assert threads == ["taskbeacon-stream", threading.current_thread().name]


def test_one_pass_delivers_what_was_written_even_if_the_stream_never_goes_quiet(
    engine: EngineTable,
) -> None:
    """Under a fleet the writers never pause: the background delivery makes pass after pass."""
    written = iter(range(1, 10_000))

    def indexer(event: dict[str, Any], context: Any) -> None:
        _put(engine, f"TASK#echo-{next(written)}")  # every batch writes one more record

    _put(engine, "TASK#0")
    pump = engine.pump(indexer)
    first = pump.drain(until_quiet=False)
    assert (first.read, first.records, first.invocations) == (1, 1, 1)
    second = pump.drain(until_quiet=False)
    assert (second.read, second.records) == (1, 1)  # the record the indexer wrote: the next pass
    with pytest.raises(StreamPumpError, match="still had new records"):
        pump.drain()  # "until quiet" never ends here


def test_settle_returns_at_once_without_a_stream() -> None:
    runtime = LambdaRuntime()
    runtime.settle()
    runtime.stop()
    assert not runtime.delivering
