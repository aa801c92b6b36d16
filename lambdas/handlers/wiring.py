"""Builds the core services from settings on first use, once per process (never at import).

Each factory imports what it builds, so a function loads only its own path: the query Lambda never
imports the write path, the ingest Lambda never the indexer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from core.settings import get_settings

if TYPE_CHECKING:
    from core.crosscheck import EcsTaskVerifier
    from core.logic.indexer import Indexer
    from core.logic.publishing import ChangeEventPublishing
    from core.logic.query import QueryService
    from core.logic.reconcile import Reconciler
    from core.logic.recording import Recorder


@lru_cache(maxsize=1)
def recorder() -> Recorder:
    from core.logic.recording import Recorder
    from core.store.tasks import TaskStore

    settings = get_settings()
    return Recorder(
        TaskStore(settings.table_name),
        retention_days=settings.stopped_retention_days,
        history_limit=settings.history_limit,
    )


@lru_cache(maxsize=1)
def indexer() -> Indexer:
    from core.logic.indexer import Indexer
    from core.store.coverage import CoverageStore
    from core.store.index import IndexStore
    from core.store.tasks import TaskStore

    settings = get_settings()
    table = settings.table_name
    return Indexer(
        TaskStore(table),
        IndexStore(table),
        event_marks=CoverageStore(table),
        change_events=change_events(table, settings.change_events_bus),
    )


def change_events(table: str, bus: str) -> ChangeEventPublishing | None:
    """Change events out (docs/events.md), when a bus is set: the registry and marks in the table."""
    if not bus:
        return None
    from core.logic.publishing import ChangeEventPublishing
    from core.publish import publisher_for
    from core.store.digests import ChangeEventStore

    return ChangeEventPublishing(ChangeEventStore(table), publisher_for(bus))


@lru_cache(maxsize=1)
def reconciler() -> Reconciler:
    from core.logic.reconcile import Reconciler
    from core.store.index import IndexStore
    from core.store.tasks import TaskStore

    settings = get_settings()
    return Reconciler(
        TaskStore(settings.table_name),
        IndexStore(settings.table_name),
        retention_days=settings.stopped_retention_days,
    )


@lru_cache(maxsize=1)
def query_service() -> QueryService:
    from core.logic.query import QueryService
    from core.store.index import IndexStore
    from core.store.tasks import TaskStore

    settings = get_settings()
    return QueryService(
        TaskStore(settings.table_name),
        IndexStore(settings.table_name),
        keepalive_seconds=settings.keepalive_seconds,
        history_limit=settings.history_limit,
    )


@lru_cache(maxsize=1)
def verifier(own_account_id: str) -> EcsTaskVerifier | None:
    """The ECS cross-check when enabled, kept per process so confirmed tasks are remembered."""
    if not get_settings().describe_tasks_cross_check:
        return None
    from core.crosscheck import EcsTaskVerifier

    return EcsTaskVerifier(own_account_id)


def reset() -> None:
    """Forget built services (tests and local mode change the environment between runs)."""
    recorder.cache_clear()
    indexer.cache_clear()
    reconciler.cache_clear()
    query_service.cache_clear()
    verifier.cache_clear()
    get_settings.cache_clear()


if TYPE_CHECKING:
    from core.sweep.service import SweepService


class _SweepClients:
    """The sweeper's AWS clients (STS, Lambda, Organizations), each made on first use, once per process."""

    def __init__(self) -> None:
        self._clients: dict[str, object] = {}

    def _client(self, service: str) -> object:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service)
        return self._clients[service]

    def sts(self) -> object:
        return self._client("sts")

    def lambda_(self) -> object:
        """Lambda, for the asynchronous invocations of the worker (units and continuations)."""
        return self._client("lambda")

    def organizations(self) -> object:
        return self._client("organizations")


@lru_cache(maxsize=1)
def sweep_clients() -> _SweepClients:
    return _SweepClients()


def sweeper() -> SweepService:
    """The sweep (ECS reads through member roles, the worker), from settings; cheap, so not cached:
    it reuses the cached recorder, query service and clients."""
    from core.store.coverage import CoverageStore
    from core.sweep.service import SweepService

    settings = get_settings()
    return SweepService(
        recorder=recorder(),
        query=query_service(),
        coverage=CoverageStore(settings.table_name),
        role_name=settings.sweep_role_name,
        calls_per_second=settings.sweep_calls_per_second,
        sts=sweep_clients().sts,
    )
