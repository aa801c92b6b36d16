"""Ingest use cases: a snapshot from an agent, an ECS task state change event from EventBridge."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.crosscheck import EcsTaskVerifier
from core.errors import InvalidInput
from core.identity import Caller, authorize_write, collector_roles
from core.logic.recording import Recorder, WriteOutcome
from core.model import Observation
from core.settings import Settings

Normalizer = Callable[[object], list[Observation]]

# SigV4 already refuses a signing clock more than 15 minutes off; a snapshot "collected" further
# in the future than that would win every newer-wins comparison until that moment: refuse it.
MAX_CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class IngestResult:
    outcomes: list[WriteOutcome]
    normalize_ms: float

    @property
    def task_ids(self) -> list[str]:
        return [outcome.task_id for outcome in self.outcomes]


def ingest_snapshot(
    body: object,
    caller: Caller,
    recorder: Recorder,
    settings: Settings,
    verifier: EcsTaskVerifier | None = None,
    *,
    now: datetime | None = None,
) -> IngestResult:
    """Normalize, check that the caller may write every task in it, then write each task.

    All tasks are authorized before anything is written, so a 403 leaves the store untouched.
    """
    from core.normalize import normalize_snapshot

    started = time.perf_counter()
    observations = normalize_snapshot(body)
    normalize_ms = (time.perf_counter() - started) * 1000
    _refuse_future(observations, now or datetime.now(UTC))
    collectors = collector_roles(settings.collector_role_arns)
    for observation in observations:
        authorize_write(caller, observation.task, collectors)
        if verifier is not None:
            verifier.verify(observation.task)
    return IngestResult(recorder.apply_all(observations), normalize_ms)


def _refuse_future(observations: list[Observation], now: datetime) -> None:
    latest = now + MAX_CLOCK_SKEW
    for observation in observations:
        if observation.observed_at > latest:
            raise InvalidInput(
                f"collectedAt {observation.observed_at.isoformat()} is in the future (server time"
                f" {now.isoformat(timespec='seconds')}); check the host clock",
                field="collectedAt",
            )


def ingest_event(event: object, recorder: Recorder) -> IngestResult:
    """Apply one EventBridge ECS Task State Change; events are trusted (the rule delivers them)."""
    from core.normalize import normalize_event

    started = time.perf_counter()
    observation = normalize_event(event)
    normalize_ms = (time.perf_counter() - started) * 1000
    return IngestResult([recorder.apply(observation)], normalize_ms)


def describe_body(body: Any) -> str:
    """A short, secret-free description of a body for logs."""
    if isinstance(body, dict):
        return f"source={body.get('source')!r} reason={body.get('reason')!r}"
    return type(body).__name__


def stop_report(
    identities: list[str], own_account: str, own_region: str, *, events_from_organization: bool
) -> str:
    """Whether the agent should send its stop snapshot: "skip" when ECS's STOPPED event reaches the
    inventory for every task reported (this account and region's default-bus rule, or every member
    of the organization forwarding), "send" otherwise. The agent's ``--stop-report auto`` follows it;
    a stop the events carry anyway costs a request and a record write (docs/decisions.md "Stop
    reports")."""

    def covered(identity: str) -> bool:
        parts = identity.split("#", 3)
        return events_from_organization or (len(parts) == 4 and parts[1:3] == [own_account, own_region])

    return "skip" if identities and all(covered(identity) for identity in identities) else "send"
