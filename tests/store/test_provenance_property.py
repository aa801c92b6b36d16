"""Three sources, one record (DESIGN 3.9): any interleaving of an agent's, EventBridge's and the
sweep's observations of one task converges, and a self-report never overrides what AWS confirmed.

The agent claims an address and a start time of its own; AWS (events and the ECS API, which share
ECS's task ``version``) states others. Whatever the order and the duplicates, the record shows
AWS's address, start and digest, keeps the agent's claim under ``sources.unconfirmed``, and names
every source that spoke for each group of fields.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.logic.indexing import active_span, wanted_entries
from core.logic.merge import VANISHED, merge
from core.logic.query import _confirmed
from core.model import Observation, TaskRecord
from core.store.index import IndexHit, placed
from tests.store.builders import T0, snapshot, task

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
CLAIMED_IP = "10.9.9.9"  # what the task says about itself
AWS_IP = "10.0.0.5"  # what AWS states
AWS_START = T0 - timedelta(days=3)  # the task ran for days before anyone saw it
DIGEST = "sha256:" + "d" * 64


def _agent(second: int = 30) -> Observation:
    claimed = task(1, ip=CLAIMED_IP, labels={"team": "data"})
    claimed = claimed.model_copy(update={"started_at": T0 + timedelta(seconds=1)})
    return snapshot(claimed, second=second, reporter="sidecar")


def _aws(source: str, version: int, *, tags: dict[str, str] | None = None) -> Observation:
    """What AWS says at ``version``: the same facts from an event or from DescribeTasks."""
    stated = task(1, ip=AWS_IP, digest=DIGEST, tags=tags).model_copy(update={"started_at": AWS_START})
    return Observation(
        task=stated,
        source=source,  # type: ignore[arg-type]
        observed_at=T0 + timedelta(seconds=version),
        event_version=version,
        reporter="eventbridge" if source == "event" else "sweep",
    )


def _apply(observations: list[Observation]) -> TaskRecord | None:
    record: TaskRecord | None = None
    for observation in observations:
        record = merge(record, observation, now=NOW, history_limit=50) or record
    return record


def _facts(record: TaskRecord | None) -> dict[str, Any]:
    """The record minus bookkeeping that honestly depends on arrival order (who spoke last, when)."""
    assert record is not None
    return record.task.model_dump(
        exclude={"first_seen_at", "last_seen_at", "last_source", "reporters", "stale"}
    )


OBSERVATIONS = {
    "agent": _agent(),
    "event": _aws("event", 2),
    "sweep": _aws("ecs-api", 2, tags={"team": "data"}),
}


@given(
    st.lists(st.sampled_from(sorted(OBSERVATIONS)), min_size=3, max_size=7).filter(
        lambda order: set(order) == set(OBSERVATIONS)
    )
)
def test_any_interleaving_with_duplicates_converges(order: list[str]) -> None:
    reference = _facts(_apply([OBSERVATIONS[name] for name in ("agent", "event", "sweep")]))
    assert _facts(_apply([OBSERVATIONS[name] for name in order])) == reference


def test_every_order_of_the_three_sources_gives_aws_facts_and_keeps_the_claim() -> None:
    for order in permutations(OBSERVATIONS):
        record = _apply([OBSERVATIONS[name] for name in order])
        assert record is not None
        t = record.task
        ips = {ip for c in t.containers for n in c.networks for ip in n.ipv4_addresses}
        assert ips == {AWS_IP}, order  # the claim never hides AWS's address
        assert t.started_at == AWS_START, order  # AWS's start, not the agent's
        assert t.containers[0].image_digest == DIGEST
        assert t.containers[0].labels == {"team": "data"}  # the agent's own knowledge stays
        assert t.tags == {"team": "data"}  # from DescribeTasks include=TAGS
        sources = t.sources
        assert sources.status == ["agent", "ecs-api", "event"]
        assert sources.network == ["agent", "ecs-api", "event"]
        assert sources.labels == ["agent"] and sources.tags == ["ecs-api"]
        assert sources.confirmed.ips == [AWS_IP]
        assert sources.unconfirmed.ips == [CLAIMED_IP]  # kept, marked


def test_the_claim_is_in_history_and_searchable_but_not_as_confirmed() -> None:
    record = _apply([OBSERVATIONS["agent"], OBSERVATIONS["event"]])
    assert record is not None
    assert any(
        CLAIMED_IP in (entry["changes"].get("unconfirmed", {}).get("to") or []) for entry in record.history
    )
    items = placed(wanted_entries(record.task), "aws#111122223333#us-east-1#1", None)
    by_ip = {i.partition.split("#")[2]: i for i in items.values() if i.partition.startswith("IX#ip#")}
    assert set(by_ip) == {AWS_IP, CLAIMED_IP}  # both addresses find the task
    # Whether AWS stated the address is judged from the record, not the entry (entries are written once).
    hit = IndexHit(partition="", sort="", identity="", projection={}, expires_at=None)
    assert _confirmed("ip", AWS_IP, hit, record.task)
    assert not _confirmed("ip", CLAIMED_IP, hit, record.task)
    # Held from the task's own start (days before taskbeacon saw it), not from first sight.
    assert active_span(record.task)[0] == AWS_START


@given(st.integers(min_value=1, max_value=5), st.booleans())
def test_a_later_self_report_never_overrides_a_confirmed_fact(seconds_later: int, with_digest: bool) -> None:
    record = _apply([OBSERVATIONS["event"]])
    later = task(1, ip=CLAIMED_IP, digest="sha256:" + "e" * 64 if with_digest else None)
    later = later.model_copy(update={"started_at": NOW})
    record = merge(record, snapshot(later, second=3600 + seconds_later), now=NOW, history_limit=50)
    assert record is not None
    t = record.task
    assert {ip for c in t.containers for n in c.networks for ip in n.ipv4_addresses} == {AWS_IP}
    assert t.started_at == AWS_START and t.containers[0].image_digest == DIGEST
    assert CLAIMED_IP in t.sources.unconfirmed.ips


def test_an_unchanged_sweep_writes_nothing_once_it_has_spoken() -> None:
    record = _apply([OBSERVATIONS["event"], OBSERVATIONS["sweep"]])
    again = _aws("ecs-api", 2, tags={"team": "data"})
    assert merge(record, again, now=NOW, history_limit=50) is None
    assert merge(record, _aws("event", 1), now=NOW, history_limit=50) is None  # older: nothing


def _vanished(at: datetime) -> Observation:
    closing = task(1, status="STOPPED").model_copy(
        update={"stopped_reason": "Not found by the taskbeacon sweep", "stopped_at": None}
    )
    return Observation(task=closing, source="ecs-api", observed_at=at, reporter="sweep", reason=VANISHED)


def test_a_vanished_task_is_closed_at_its_last_sighting_and_only_once() -> None:
    record = _apply([OBSERVATIONS["event"]])
    assert record is not None and record.task.last_status == "RUNNING"
    last_seen = record.task.last_seen_at
    closed = merge(record, _vanished(NOW), now=NOW, history_limit=50)
    assert closed is not None
    assert closed.task.last_status == "STOPPED" and closed.task.desired_status == "STOPPED"
    assert closed.task.stopped_reason == "Not found by the taskbeacon sweep"
    assert closed.task.stopped_at == last_seen  # bounded by when it was last seen, not the sweep
    assert "ecs-api" in closed.task.sources.status
    assert merge(closed, _vanished(NOW), now=NOW, history_limit=50) is None
    assert merge(None, _vanished(NOW), now=NOW, history_limit=50) is None  # unknown: nothing to close
    # A late STOPPED event still tells the real story: AWS's reason and time replace the sweep's.
    stopped = task(1, status="STOPPED", stopped_reason="Essential container exited")
    stopped = stopped.model_copy(update={"stopped_at": T0 + timedelta(seconds=9)})
    event = Observation(task=stopped, source="event", observed_at=T0, event_version=5, reporter="eventbridge")
    final = merge(closed, event, now=NOW, history_limit=50)
    assert final is not None
    assert final.task.stopped_reason == "Essential container exited"
    assert final.task.stopped_at == T0 + timedelta(seconds=9)


def test_history_dates_a_status_change_when_ecs_says_it_happened() -> None:
    """The RUNNING event's start, not the later report that revealed it; its arrival is kept too."""
    record = _apply([OBSERVATIONS["event"]])  # RUNNING, started three days before it was seen
    assert record is not None
    (entry,) = [e for e in record.history if "lastStatus" in e["changes"]]
    assert entry["at"] == "2026-11-25T09:00:00.000000Z"  # AWS_START
    assert entry["observedAt"] == "2026-11-28T09:00:02.000000Z"
    # A change with no time of its own (an address) is dated when it was seen.
    later = merge(record, _agent(second=60), now=NOW, history_limit=50)
    assert later is not None
    assert later.history[-1]["at"] == "2026-11-28T09:01:00.000000Z" and "observedAt" not in later.history[-1]


def test_closing_a_vanished_task_credits_the_sweep_with_the_status_only() -> None:
    tagged = task(1, ip=CLAIMED_IP, labels={"team": "data"}, tags={"team": "data"})
    record = _apply([snapshot(tagged, second=30, reporter="sidecar")])  # the agent's word only
    assert record is not None and record.task.sources.tags == ["agent"]
    closed = merge(record, _vanished(NOW), now=NOW, history_limit=50)
    assert closed is not None
    sources = closed.task.sources
    assert sources.status == ["agent", "ecs-api"]
    assert "ecs-api" not in sources.labels + sources.tags + sources.network + sources.images
