"""Change events out through the real indexer and table (core/logic/publishing.py): exactly one
``Image Digest First Seen`` for two tasks, and a batch retried after a partial publish failure puts
out no id twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from core.logic.change_events import IMAGE_DIGEST_FIRST_SEEN, IP_RELEASED, TASK_FIRST_SEEN
from core.logic.indexer import Indexer
from core.logic.publishing import ChangeEventPublishing
from core.publish import MemoryBus
from core.store.digests import ChangeEventStore
from core.store.index import IndexStore
from core.store.tasks import TaskStore
from tests.store.builders import event, task
from tests.store.inventory import Inventory

DIGEST = "sha256:" + "cd" * 32


def _publishing(dynamodb: Any) -> tuple[Inventory, MemoryBus]:
    inventory = Inventory(dynamodb)
    bus = MemoryBus()
    inventory.indexer = Indexer(
        TaskStore(inventory.table, client=dynamodb, sleep=lambda _: None),
        IndexStore(inventory.table, client=dynamodb, sleep=lambda _: None),
        change_events=ChangeEventPublishing(ChangeEventStore(inventory.table, client=dynamodb), bus),
    )
    return inventory, bus


def _ids(bus: MemoryBus) -> list[str]:
    return [published["detail"]["eventId"] for published in bus.published()]


def _kinds(bus: MemoryBus) -> Counter[str]:
    return Counter(published["detail-type"] for published in bus.published())


def test_two_tasks_starting_one_new_digest_make_one_first_seen(dynamodb: Any) -> None:
    inventory, bus = _publishing(dynamodb)
    inventory.apply(event(task(1, digest=DIGEST), version=1))
    inventory.apply(event(task(2, digest=DIGEST), version=1))
    inventory.apply(event(task(3, digest=DIGEST), version=1, second=5))
    assert _kinds(bus) == {TASK_FIRST_SEEN: 3, IMAGE_DIGEST_FIRST_SEEN: 1}
    (first,) = [p for p in bus.published() if p["detail-type"] == IMAGE_DIGEST_FIRST_SEEN]
    assert first["detail"]["imageDigest"] == DIGEST
    assert first["detail"]["taskId"] == task(1).task_id


def test_two_tasks_in_one_batch_make_one_first_seen(dynamodb: Any) -> None:
    inventory, bus = _publishing(dynamodb)
    inventory.recorder.apply(event(task(1, digest=DIGEST), version=1))
    inventory.recorder.apply(event(task(2, digest=DIGEST), version=1))
    inventory.settle()
    assert _kinds(bus)[IMAGE_DIGEST_FIRST_SEEN] == 1


@pytest.mark.parametrize("refused", [1, 2, 3])
def test_a_retry_after_a_partial_publish_failure_publishes_no_id_twice(dynamodb: Any, refused: int) -> None:
    inventory, bus = _publishing(dynamodb)
    bus.fail_next(refused)  # the first attempt's first events are refused: the batch is reported failed
    inventory.recorder.apply(event(task(1, digest=DIGEST), version=1))
    inventory.recorder.apply(event(task(2, ip="10.0.0.6"), version=1))
    inventory.recorder.apply(event(task(1, digest=DIGEST, status="STOPPED"), version=2, second=60))
    inventory.settle()
    assert bus.refused == refused
    ids = _ids(bus)
    assert len(ids) == len(set(ids))
    assert _kinds(bus) == {TASK_FIRST_SEEN: 2, IMAGE_DIGEST_FIRST_SEEN: 1, IP_RELEASED: 1}


def test_a_replayed_batch_publishes_nothing_again(dynamodb: Any) -> None:
    inventory, bus = _publishing(dynamodb)
    captured: list[dict[str, Any]] = []

    def capture(event_: dict[str, Any], context: Any = None) -> dict[str, Any]:
        captured.extend(event_["Records"])
        return inventory.index_event(event_, context)

    inventory.pump.handler = capture  # type: ignore[assignment]
    inventory.apply(event(task(1, digest=DIGEST), version=1))
    before = _ids(bus)
    assert before
    assert inventory.index_event({"Records": captured}) == {"batchItemFailures": []}
    assert _ids(bus) == before
