"""DynamoDB pushback over HTTP: 429/503 with Retry-After, and nothing written.

The store seam (``handlers.wiring``) gets a real botocore DynamoDB client whose answers come from
botocore's Stubber, so our own store, error mapping and HTTP shaping all run unmocked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from core.logic.query import QueryService
from core.logic.recording import Recorder
from core.store import index, keys
from core.store.index import IndexStore
from core.store.tasks import TaskStore
from handlers import wiring
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import envelope, send

# What a single conditional PutItem (a task's first snapshot: its record alone) can answer.
PUSHBACK = [
    ("ProvisionedThroughputExceededException", 429),
    ("ThrottlingException", 429),
    ("RequestLimitExceeded", 429),
    ("TransactionConflictException", 429),
    ("InternalServerError", 503),
    ("ServiceUnavailable", 503),
]

# What the transaction (record + keepalive item, once a keepalive came) can answer besides those.
TRANSACTION_PUSHBACK = [
    (
        "TransactionCanceledException",
        {"CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}]},
    ),
    ("TransactionCanceledException", {"CancellationReasons": [{"Code": "ProvisionedThroughputExceeded"}]}),
    ("TransactionConflictException", {}),
    ("ThrottlingException", {}),
]


@contextmanager
def _stubbing(local: LocalSystem) -> Iterator[Stubber]:
    """A stubbed DynamoDB client in place of the handlers' store and query service, for one test."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="stub", aws_secret_access_key="stub"
    )
    table = local.table_name
    with pytest.MonkeyPatch.context() as patch, Stubber(client) as stubber:
        recorder = Recorder(TaskStore(table, client=client), retention_days=30, history_limit=50)
        patch.setattr(wiring, "recorder", lambda: recorder)
        patch.setattr(
            wiring,
            "query_service",
            lambda: QueryService(
                TaskStore(table, client=client),
                IndexStore(table, client=client),
                keepalive_seconds=900,
                history_limit=50,
            ),
        )
        yield stubber
        stubber.assert_no_pending_responses()


def _snapshot(local: LocalSystem, operator: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    task = fixture("v4-task-fargate-docs.json")
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/demo/{task_id}"
    task["Cluster"] = "arn:aws:ecs:us-east-1:111122223333:cluster/demo"
    creds = task_credentials(local, operator, task["TaskARN"])
    return task_id, creds, envelope(task, collected_at="2026-11-28T09:14:03Z")


@pytest.mark.parametrize(("code", "status"), PUSHBACK)
def test_pushback_on_the_write_is_429_or_503_with_retry_after(
    local: LocalSystem, operator: dict, code: str, status: int
) -> None:
    task_id, creds, body = _snapshot(local, operator)
    with _stubbing(local) as stub:
        stub.add_response("query", {"Items": [], "Count": 0})  # no record yet
        # A first snapshot writes its record alone: one conditional put, no transaction.
        stub.add_client_error(
            "put_item", service_error_code=code, service_message="slow down", http_status_code=400
        )
        reply = send(local.url, "POST", "/snapshots", credentials=creds, body=body)
    assert reply.status == status, reply.body
    assert int(reply.headers["Retry-After"]) >= 1
    assert reply.body["error"]["code"] == ("throttled" if status == 429 else "unavailable")
    # Nothing was half-written: the real table does not know the task.
    assert send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).status == 404


@pytest.mark.parametrize(("code", "fields"), TRANSACTION_PUSHBACK)
def test_pushback_on_the_transaction_is_429_and_the_task_stays_as_it_was(
    local: LocalSystem, operator: dict, code: str, fields: dict[str, Any]
) -> None:
    task = fixture("v4-task-fargate-docs.json")
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/demo/{task_id}"
    task["Cluster"] = "arn:aws:ecs:us-east-1:111122223333:cluster/demo"
    creds = task_credentials(local, operator, task["TaskARN"])
    first = envelope(task, collected_at="2026-11-28T09:14:03Z")
    assert send(local.url, "POST", "/snapshots", credentials=creds, body=first).status == 202
    keepalive = envelope(task, collected_at="2026-11-28T21:14:03Z", sequence=2, reason="keepalive")
    assert send(local.url, "POST", "/snapshots", credentials=creds, body=keepalive).status == 202
    before = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator)
    assert before.status == 200, before.body
    # The task's partition as it now is (record and keepalive item), for the stubbed read.
    identity = f"aws#111122223333#us-east-1#{task_id}"
    raw = boto3.client(
        "dynamodb",
        endpoint_url=local.dynamodb_endpoint,
        region_name=local.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items = raw.query(
        TableName=local.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": keys.record_key(identity)["pk"]},
        ConsistentRead=True,
    )["Items"]
    assert len(items) == 2, items  # the record and its keepalive item
    changed = dict(task, KnownStatus="STOPPED", DesiredStatus="STOPPED")
    changed_body = envelope(changed, collected_at="2026-11-28T21:20:03Z", sequence=3, reason="stop")
    with _stubbing(local) as stub:
        stub.add_response("query", {"Items": items, "Count": len(items)})
        stub.add_client_error(
            "transact_write_items",
            service_error_code=code,
            service_message="slow down",
            http_status_code=400,
            modeled_fields=fields,
        )
        reply = send(local.url, "POST", "/snapshots", credentials=creds, body=changed_body)
    assert reply.status == 429, reply.body
    assert int(reply.headers["Retry-After"]) >= 1 and reply.body["error"]["code"] == "throttled"
    after = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator)
    assert after.status == 200 and after.body == before.body


@pytest.mark.parametrize(
    ("code", "status"), [("ProvisionedThroughputExceededException", 429), ("InternalServerError", 503)]
)
def test_pushback_on_the_first_read_is_429_or_503(
    local: LocalSystem, operator: dict, code: str, status: int
) -> None:
    _, creds, body = _snapshot(local, operator)
    with _stubbing(local) as stub:
        stub.add_client_error("query", service_error_code=code, http_status_code=400)
        reply = send(local.url, "POST", "/snapshots", credentials=creds, body=body)
    assert reply.status == status and reply.headers["Retry-After"].isdigit()


def test_query_under_pushback_is_429_with_retry_after(local: LocalSystem, operator: dict) -> None:
    with _stubbing(local) as stub:
        stub.add_client_error("query", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_client_error(
            "query", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        one = send(local.url, "GET", f"/tasks/{uuid.uuid4().hex}", credentials=operator)
        listed = send(local.url, "GET", "/tasks?cluster=demo", credentials=operator)
    for reply in (one, listed):
        assert reply.status == 429, reply.body
        assert reply.headers["Retry-After"] == "1"


def test_page_whose_records_stay_unprocessed_is_429_not_a_page_with_holes(
    local: LocalSystem, operator: dict
) -> None:
    identity = f"aws#111122223333#us-east-1#{uuid.uuid4().hex}"
    entry = {
        "pk": {"S": index.partitions("clusterName", "demo")[0]},
        "sk": {"S": f"2026-11-28T09:14:03.000000Z#{identity}"},
        "ref": {"S": identity},
        "p": {"S": "{}"},
    }
    with _stubbing(local) as stub:
        stub.add_response("query", {"Items": [entry], "Count": 1, "ScannedCount": 1})
        for _ in range(index.INDEX_SHARDS - 1):  # the other shards of the partition are empty
            stub.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0})
        for _ in range(5):  # one request plus every retry the reader allows
            stub.add_response(
                "batch_get_item",
                {
                    "Responses": {local.table_name: []},
                    "UnprocessedKeys": {local.table_name: {"Keys": [keys.record_key(identity)]}},
                },
            )
        reply = send(local.url, "GET", "/tasks?cluster=demo&limit=1", credentials=operator)
    assert reply.status == 429, reply.body
    assert reply.headers["Retry-After"] == "1"


def test_event_played_under_pushback_is_429_with_retry_after(local: LocalSystem, operator: dict) -> None:
    import json

    event = fixture("eventbridge-task-state-change-fargate-running.json")
    task_id = uuid.uuid4().hex
    event["detail"]["taskArn"] = event["detail"]["taskArn"].rsplit("/", 1)[0] + "/" + task_id
    with _stubbing(local) as stub:
        stub.add_response("query", {"Items": [], "Count": 0})
        stub.add_client_error("put_item", service_error_code="ThrottlingException", http_status_code=400)
        reply = send(
            local.url, "POST", "/_local/events", credentials=operator, body=json.dumps(event).encode()
        )
    assert reply.status == 429, reply.body
    assert reply.headers["Retry-After"] == "1" and reply.body["error"]["code"] == "throttled"
    assert send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).status == 404
