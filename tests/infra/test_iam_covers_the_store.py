"""The IAM actions granted to the functions cover every DynamoDB call the store makes (moto checks no IAM).

A full task lifecycle (new task, keepalive, change, events, stop, queries of every kind) runs on
moto through a client that records each operation, and each item kind inside a transaction, as the
IAM action AWS would authorize it by.
"""

from __future__ import annotations

import re
from typing import Any

from core.logic.query import QueryService
from core.store.reader import Reader
from core.store.writer import Store
from infra.functions import READ_ACTIONS, WRITE_ACTIONS
from tests.store.builders import T0, event, snapshot, task

# A transaction is authorized by the actions of the items inside it (TransactWriteItems is no action).
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


class RecordingClient:
    """The moto client, noting the IAM action of every call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.actions: set[str] = set()

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._client, operation)
        if not callable(method) or operation.startswith("_") or operation in {"meta", "exceptions"}:
            return method

        def call(**request: Any) -> Any:
            if operation == "transact_write_items":
                for item in request["TransactItems"]:
                    self.actions |= {_TRANSACT_ITEM_ACTIONS[kind] for kind in item}
            else:
                name = "".join(part.capitalize() for part in operation.split("_"))
                self.actions.add(f"dynamodb:{name}")
            return method(**request)

        return call


def _lifecycle(store: Store) -> None:
    store.apply(snapshot(task(1, status="PENDING", ip=None), second=1))
    store.apply(snapshot(task(1, status="RUNNING", tags={"team": "a"}), second=2))
    store.apply(snapshot(task(1, status="RUNNING", tags={"team": "a"}), second=900))  # keepalive
    store.apply(snapshot(task(1, status="RUNNING", image="app:2", tags={"team": "a"}), second=901))
    stopped = task(1, status="STOPPED", stopped_reason="done", exit_code=0, tags={"team": "a"})
    store.apply(event(stopped, version=9, second=1000))
    store.apply_all([snapshot(task(n), second=5) for n in (2, 3)])


def _queries(query: QueryService) -> None:
    query.get_task(f"{1:032x}", now=T0)
    query.history(f"{1:032x}", limit=5, cursor=None, now=T0)
    query.list_tasks({"cluster": "prod", "status": "STOPPED"}, since=None, limit=5, cursor=None)
    query.list_tasks({}, since=T0, limit=5, cursor=None)
    for kind, value in (("ip", "10.0.0.5"), ("image", "app:2"), ("tag", "team=a")):
        query.search(kind, value, status=None, at=None, limit=5, cursor=None)
    query.summary("cluster")


def test_write_roles_grant_every_action_the_store_uses(dynamodb: Any) -> None:
    recording = RecordingClient(dynamodb)
    _lifecycle(Store("tasks", retention_days=30, history_limit=5, client=recording))
    assert "dynamodb:DeleteItem" in recording.actions  # the stop moved the status index entry
    assert recording.actions <= set(WRITE_ACTIONS), recording.actions - set(WRITE_ACTIONS)


def test_query_role_grants_every_action_the_reader_uses(dynamodb: Any) -> None:
    _lifecycle(Store("tasks", retention_days=30, history_limit=5, client=dynamodb))
    recording = RecordingClient(dynamodb)
    _queries(QueryService(Reader("tasks", client=recording), keepalive_seconds=900, history_limit=5))
    assert {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:GetItem"} <= recording.actions
    assert recording.actions <= set(READ_ACTIONS), recording.actions - set(READ_ACTIONS)
    assert not any(re.search("Scan|Write|Delete|Put|Update", action) for action in recording.actions)
