"""The pure derivation of change events (core/logic/change_events.py): each kind, ids stable under
replay, nothing for a duplicate or replayed record."""

from __future__ import annotations

from datetime import timedelta

from core.logic.change_events import (
    IMAGE_DIGEST_FIRST_SEEN,
    IP_RELEASED,
    TASK_FIRST_SEEN,
    TASK_STOPPED_ABNORMALLY,
    abnormal_reasons,
    derive,
)
from core.model import StreamChange, Task, TaskRecord
from tests.store.builders import T0, task

DIGEST = "sha256:" + "ab" * 32


def _record(t: Task) -> TaskRecord:
    return TaskRecord(task=t.model_copy(update={"first_seen_at": T0, "last_seen_at": T0}))


def _change(old: Task | None, new: Task, sequence: str = "1") -> StreamChange:
    record = _record(new)
    return StreamChange(
        identity="aws#111122223333#us-east-1#" + new.task_id,
        sequence=sequence,
        new=record,
        old=_record(old) if old is not None else None,
    )


def _stopped(t: Task, **update: object) -> Task:
    return t.model_copy(
        update={"last_status": "STOPPED", "started_at": T0, "stopped_at": T0 + timedelta(hours=1), **update}
    )


def _kinds(changes: list[StreamChange]) -> list[str]:
    return [event.kind for event in derive(changes).events]


def test_an_insert_is_task_first_seen_and_a_modify_is_not() -> None:
    running = task(1)
    assert _kinds([_change(None, running)]) == [TASK_FIRST_SEEN]
    assert _kinds([_change(running, running.model_copy(update={"health_status": "HEALTHY"}))]) == []


def test_a_stop_releases_each_address_with_its_interval() -> None:
    running = task(1, ip="10.0.0.5")
    (event,) = derive([_change(running, _stopped(running))]).events
    assert event.kind == IP_RELEASED
    assert event.detail["ip"] == "10.0.0.5"
    assert event.detail["heldFrom"] == "2026-11-28T09:00:00Z"
    assert event.detail["heldUntil"] == "2026-11-28T10:00:00Z"
    # A later report about the stopped task releases nothing again.
    stopped = _stopped(running)
    assert _kinds([_change(stopped, stopped.model_copy(update={"stopped_reason": "x"}))]) == []


def test_abnormal_stops() -> None:
    running = task(1, ip=None)
    oom = _stopped(running, stop_code="EssentialContainerExited")
    oom.containers[0].exit_code = 137
    oom.containers[0].reason = "OutOfMemoryError: Container killed due to memory usage"
    assert abnormal_reasons(oom) == ["OutOfMemory", "EssentialContainerExited"]
    crashed = _stopped(task(2, ip=None, exit_code=1), stop_code="EssentialContainerExited")
    assert abnormal_reasons(crashed) == ["EssentialContainerExited"]
    finished = _stopped(task(3, ip=None, exit_code=0), stop_code="EssentialContainerExited")
    assert abnormal_reasons(finished) == []
    scaled_in = _stopped(task(4, ip=None, exit_code=143), stop_code="ServiceSchedulerInitiated")
    assert abnormal_reasons(scaled_in) == []
    spot = _stopped(task(5, ip=None), stop_code="SpotInterruption")
    assert abnormal_reasons(spot) == ["StopCode"]
    killed = _stopped(task(6, ip=None, exit_code=137), stop_code="ServiceSchedulerInitiated")
    assert abnormal_reasons(killed) == []  # 137 alone is a SIGKILL (a stop timeout), not memory
    assert abnormal_reasons(task(7, ip=None, exit_code=1)) == []  # not stopped
    assert _kinds([_change(running, crashed)]) == [TASK_STOPPED_ABNORMALLY]
    # Once per task: a later report adding the exit code's reason publishes nothing more.
    assert _kinds([_change(crashed, oom.model_copy(update={"task_id": crashed.task_id}))]) == []


def test_a_gained_digest_is_a_candidate_once() -> None:
    pending = task(1, ip=None)
    running = task(1, ip=None, digest=DIGEST)
    (candidate,) = derive([_change(pending, running)]).digests
    assert candidate.digest == DIGEST
    assert candidate.event.kind == IMAGE_DIGEST_FIRST_SEEN
    assert derive([_change(running, running)]).digests == []
    # The id names the digest, not the task: two tasks claim the same event.
    other = derive([_change(None, task(2, ip=None, digest=DIGEST))]).digests[0]
    assert other.event.id == candidate.event.id


def test_ids_are_stable_under_replay_and_duplicates_derive_the_same_events() -> None:
    running = task(1)
    run = [_change(None, running, "1"), _change(running, _stopped(running), "2")]
    first = derive(run)
    replayed = derive(run + run)  # a batch holding the records twice
    assert [e.id for e in first.events] == [e.id for e in replayed.events]
    assert [e.kind for e in first.events] == [TASK_FIRST_SEEN, IP_RELEASED]
    assert [e.entry("bus") for e in first.events] == [e.entry("bus") for e in derive(run).events]
    assert len({e.id for e in first.events}) == len(first.events)
    assert all(e.detail["eventId"] == e.id for e in first.events)
