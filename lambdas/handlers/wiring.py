"""Builds the core services from settings on first use, once per process (never at import)."""

from __future__ import annotations

from functools import lru_cache

from core.crosscheck import EcsTaskVerifier
from core.logic.indexer import Indexer
from core.logic.query import QueryService
from core.logic.reconcile import Reconciler
from core.logic.recording import Recorder
from core.settings import get_settings
from core.store.index_writer import IndexStore
from core.store.reader import Reader
from core.store.writer import Store


@lru_cache(maxsize=1)
def recorder() -> Recorder:
    settings = get_settings()
    return Recorder(
        Store(settings.table_name),
        retention_days=settings.stopped_retention_days,
        history_limit=settings.history_limit,
    )


# The ingest and events handlers' name for the write path.
store = recorder


@lru_cache(maxsize=1)
def indexer() -> Indexer:
    return Indexer(IndexStore(get_settings().table_name))


@lru_cache(maxsize=1)
def reconciler() -> Reconciler:
    table = get_settings().table_name
    return Reconciler(Reader(table), IndexStore(table))


@lru_cache(maxsize=1)
def query_service() -> QueryService:
    settings = get_settings()
    return QueryService(
        Reader(settings.table_name),
        keepalive_seconds=settings.keepalive_seconds,
        history_limit=settings.history_limit,
    )


@lru_cache(maxsize=1)
def verifier(own_account_id: str) -> EcsTaskVerifier | None:
    """The ECS cross-check when enabled, kept per process so confirmed tasks are remembered."""
    return EcsTaskVerifier(own_account_id) if get_settings().describe_tasks_cross_check else None


def reset() -> None:
    """Forget built services (tests and local mode change the environment between runs)."""
    recorder.cache_clear()
    indexer.cache_clear()
    reconciler.cache_clear()
    query_service.cache_clear()
    verifier.cache_clear()
    get_settings.cache_clear()
