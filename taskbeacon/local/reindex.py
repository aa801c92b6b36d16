"""``POST /_local/reindex`` (operator only): ``taskbeacon reindex`` against local mode.

Body: ``{"tasks": [task ARN or task key, ...], "cluster": "...", "accountId": "...",
"fromFailures": true, "dryRun": false}`` (each optional; at least one of them). It runs
``core.logic.reindex`` in local mode's process on its table, and delivers local mode's stream to the
indexer in between, so the answer comes once the tasks are in sync. Local mode's failure destination
is its stream pump's dead letters (Lambda's on-failure records: shard and sequence numbers; local
mode's indexer has no queue to park a task key in), whose tasks are read back from the stream. The
dead letters whose tasks end in sync are dropped, as the CLI deletes a deployed queue's messages.

Answers 200 with the report (``ok`` false when a task is still out of sync), 400 naming a bad field,
429/503 with ``Retry-After`` when the engine pushes back.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskbeacon.local.aws.lambda_runtime import LambdaRuntime

_TASK_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):task/(?:[^/]+/)?"
    r"(?P<id>[A-Za-z0-9][A-Za-z0-9_-]{0,254})$"
)
_IDENTITY = re.compile(r"^aws[a-z-]*#\d{12}#[a-z0-9-]+#[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_FIELDS = {"tasks", "cluster", "accountId", "fromFailures", "dryRun"}
_MAX_TASKS = 10_000


class _BadField(Exception):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def local_reindex(document: dict[str, Any], runtime: LambdaRuntime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one request."""
    from core.errors import Throttled

    try:
        request = _request(document)
        return HTTPStatus.OK, _run(request, runtime)
    except _BadField as error:
        return HTTPStatus.BAD_REQUEST, _error("invalid_input", error.message, error.field)
    except Throttled as error:
        status = (
            HTTPStatus.SERVICE_UNAVAILABLE if error.code == "unavailable" else HTTPStatus.TOO_MANY_REQUESTS
        )
        return status, _error(error.code, error.message, None)


def _error(code: str, message: str, field: str | None) -> dict[str, Any]:
    from core.errors import error_body

    return error_body(code, message, field)


def _request(document: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise _BadField(f"unknown field {unknown[0]!r}", unknown[0])
    tasks = document.get("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks) or len(tasks) > _MAX_TASKS:
        raise _BadField(f"tasks must be a list of at most {_MAX_TASKS} task ARNs", "tasks")
    identities = [_identity(task) for task in tasks]
    cluster = document.get("cluster")
    if cluster is not None and (not isinstance(cluster, str) or not cluster.strip()):
        raise _BadField("cluster must be a cluster name or ARN", "cluster")
    account = document.get("accountId")
    if account is not None and (not isinstance(account, str) or not _ACCOUNT.match(account)):
        raise _BadField("accountId must be a 12-digit account id", "accountId")
    flags = {}
    for name in ("fromFailures", "dryRun"):
        value = document.get(name, False)
        if not isinstance(value, bool):
            raise _BadField(f"{name} must be true or false", name)
        flags[name] = value
    if not (identities or cluster or account or flags["fromFailures"]):
        raise _BadField("name the tasks: tasks, cluster, accountId or fromFailures", "tasks")
    return {"identities": identities, "cluster": cluster, "account": account, **flags}


def _identity(task: str) -> str:
    match = _TASK_ARN.match(task.strip())
    if match:
        return f"{match['partition']}#{match['account']}#{match['region']}#{match['id']}"
    if _IDENTITY.match(task.strip()):
        return task.strip()
    raise _BadField(f"not a task ARN: {task[:200]!r}", "tasks")


def _run(request: dict[str, Any], runtime: LambdaRuntime) -> dict[str, Any]:
    from core.logic.failures import StreamRange, read_failure
    from core.logic.reindex import RangeUnreadable, Reindexer, tasks_in_stream_range
    from core.settings import get_settings
    from core.store import dynamo
    from core.store.index import IndexStore
    from core.store.tasks import TaskStore

    table = get_settings().table_name
    client = dynamo.client()
    reindexer = Reindexer(TaskStore(table, client=client), IndexStore(table, client=client))
    identities = list(request["identities"])
    if request["cluster"] or request["account"]:
        identities += reindexer.tasks_of(cluster=request["cluster"], account=request["account"])
    stream = runtime.stream
    letters: list[tuple[dict[str, Any], list[str]]] = []
    unresolved: list[str] = []
    if request["fromFailures"] and stream is not None:
        for letter in list(stream.dead_letters):
            failure = read_failure(json.dumps(letter))
            if not isinstance(failure, StreamRange):
                continue
            try:
                named = tasks_in_stream_range(stream.streams, failure)
            except RangeUnreadable as error:
                unresolved.append(f"stream range {error} is no longer in the stream")
                continue
            letters.append((letter, named))
            identities += named
    settle = stream.drain if stream is not None else None
    report = reindexer.run(identities, settle=settle, wait_seconds=0, dry_run=request["dryRun"])
    body = report.body()
    if request["fromFailures"]:
        done = set(report.in_sync) | set(report.settled) | set(report.gone)
        dropped = 0
        if stream is not None and not request["dryRun"]:
            for letter, named in letters:
                if all(identity in done for identity in named) and letter in stream.dead_letters:
                    stream.dead_letters.remove(letter)
                    dropped += 1
        read = len(letters) + len(unresolved)
        body["failureQueue"] = {"read": read, "deleted": dropped, "unresolved": unresolved}
        body["ok"] = body["ok"] and not unresolved
    return body
