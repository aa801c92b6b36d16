"""``taskbeacon reindex``: flags, exit codes, a deployed stack (moto) and local mode (a real LocalSystem).

Against a "deployed stack" the CLI talks to DynamoDB, its stream and SQS directly; the stack's indexer
is played by a thread that delivers the table's stream to the real indexer handler body, as the event
source mapping would. In local mode the CLI posts to ``/_local/reindex`` on local mode's gateway.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.logic.failures import parked_message
from core.model import Task, TaskRecord, task_identity
from core.store.records import record_item
from core.store.schema import create_table_request
from taskbeacon.cli.main import main
from taskbeacon.local.aws.stream_pump import StreamPump
from tests.store.builders import ACCOUNT, T0
from tests.store.inventory import Inventory

TABLE = "taskbeacon-tasks"
REGION = "us-east-1"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _task(number: int, cluster: str = "prod") -> Task:
    task_id = f"{number:032x}"
    return Task(
        task_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{task_id}",
        task_id=task_id,
        account_id=ACCOUNT,
        region=REGION,
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
        cluster_name=cluster,
        last_status="RUNNING",
        first_seen_at=T0 + timedelta(seconds=number),
    )


def _put(client: Any, number: int, table: str = TABLE, cluster: str = "prod") -> str:
    """A task record as the request path writes it; the indexer has not seen it (yet)."""
    t = _task(number, cluster)
    client.put_item(
        TableName=table, Item=record_item(task_identity(t), TaskRecord(task=t, revision=1), [], None)
    )
    return t.task_arn


# -- flags and exit codes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([], "which tasks?"),
        (["--task", "not-an-arn"], "--task"),
        (["--task", "arn:aws:ecs:us-east-1:1234:task/c/abc"], "--task"),
        (["--account", "12345"], "--account"),
        (["--cluster", " "], "--cluster"),
        (["--failure-queue", "https://sqs.us-east-1.amazonaws.com/1/q"], "--failure-queue"),
        (["--table", TABLE, "--failure-queue", "not a url"], "--failure-queue"),
        (["--table", "x", "--from-failures"], "--table"),
        (["--table", TABLE, "--from-failures"], "--from-failures"),
        (["--table", TABLE, "--cluster", "prod", "--endpoint", "http://127.0.0.1:9"], "--endpoint"),
        (["--wait", "-1", "--cluster", "prod"], "--wait"),
        (["--cluster", "prod", "--bogus"], "--bogus"),
    ],
)
def test_bad_flags_are_usage_errors_that_name_the_flag(
    argv: list[str], names: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKBEACON_ENDPOINT", raising=False)
    code, out, err = _run("reindex", *argv)
    assert code == 2
    assert names in err and out == ""


def test_no_table_and_no_local_endpoint_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKBEACON_ENDPOINT", raising=False)
    code, _, err = _run("reindex", "--cluster", "prod")
    assert code == 2 and "--table NAME" in err and "--endpoint" in err


def test_reindex_is_listed_and_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run("--help")
    assert code == 0 and "reindex" in out
    code, out, _ = _run("reindex", "--help")
    assert code == 0 and "--failure-queue" in out and "exit codes" in out


def test_global_options_before_the_command_reach_it() -> None:
    """`taskbeacon --profile P reindex ...` must use P, never quietly the default profile."""
    code, _, err = _run("--profile", "no-such-profile", "reindex", "--table", TABLE, "--cluster", "prod")
    assert code == 4 and "no-such-profile" in err


# -- a deployed stack (moto) -------------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        "TASKBEACON_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # moto knows no account endpoints
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**create_table_request(TABLE))
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="indexer-failures")["QueueUrl"]
        inventory = Inventory(dynamodb, TABLE)
        yield {"dynamodb": dynamodb, "sqs": sqs, "url": url, "inventory": inventory}


class DeployedIndexer:
    """The stack's indexer: the table's stream delivered to the indexer handler body, continuously."""

    def __init__(self, inventory: Inventory) -> None:
        self.pump = StreamPump(inventory.client, TABLE, inventory.index_event)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.pump.drain()

    def __enter__(self) -> DeployedIndexer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(5)


def _messages(stack: dict[str, Any]) -> tuple[int, int]:
    """(visible, in flight) messages of the failure queue."""
    attributes = stack["sqs"].get_queue_attributes(
        QueueUrl=stack["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_deployed_stack_reindexes_the_tasks_its_failure_queue_names(stack: dict[str, Any]) -> None:
    dynamodb = stack["dynamodb"]
    for number in (1, 2):
        _put(dynamodb, number)
    indexer = DeployedIndexer(stack["inventory"])
    indexer.pump.drain()  # tasks 1 and 2 are indexed
    # Task 3's record change never reached the index (its stream record was poison) and was parked;
    # task 4's was in a batch Lambda gave up on (its on-failure record names the stream range only).
    _put(dynamodb, 3)
    _put(dynamodb, 4)
    shard = indexer.pump._shards()[0]["ShardId"]
    iterator = indexer.pump.streams.get_shard_iterator(
        StreamArn=indexer.pump.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = indexer.pump.streams.get_records(ShardIterator=iterator)["Records"]
    last = [r for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "TASK"][-1]
    assert last["dynamodb"]["Keys"]["pk"]["S"] == f"TASK#{task_identity(_task(4))}"
    indexer.pump._skip_to_latest()  # the live indexer moved on past them
    stack["sqs"].send_message(
        QueueUrl=stack["url"], MessageBody=parked_message(task_identity(_task(3)), "1", "ValueError: doc")
    )
    sequence = last["dynamodb"]["SequenceNumber"]
    letter = {
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "batchSize": 1,
            "streamArn": indexer.pump.stream_arn,
        }
    }
    stack["sqs"].send_message(QueueUrl=stack["url"], MessageBody=json.dumps(letter))

    argv = ["reindex", "--table", TABLE, "--failure-queue", stack["url"], "--region", REGION, "--json"]
    with indexer:
        code, out, err = _run(*argv, "--wait", "20")
    assert code == 0, err
    report = json.loads(out)
    assert report["requested"] == 2 and report["settled"] == 2 and report["unsettled"] == []
    assert report["failureQueue"] == {"read": 2, "deleted": 2, "unresolved": []}
    assert _messages(stack) == (0, 0)

    # Idempotent: every task, by cluster this time (read from the index, never a Scan): all in sync.
    code, out, _ = _run("reindex", "--table", TABLE, "--cluster", "prod", "--region", REGION, "--json")
    report = json.loads(out)
    assert code == 0 and report["checked"] == 4 and report["inSync"] == 4 and report["requested"] == 0


def test_a_task_the_indexer_does_not_take_in_time_exits_1_and_stays_in_the_queue(
    stack: dict[str, Any],
) -> None:
    arn = _put(stack["dynamodb"], 7)
    stack["sqs"].send_message(
        QueueUrl=stack["url"], MessageBody=parked_message(task_identity(_task(7)), "1", "x")
    )
    stack["sqs"].send_message(QueueUrl=stack["url"], MessageBody="something else")
    # No indexer runs: the record is handed back, and nothing derives it within the wait.
    code, out, err = _run("reindex", "--table", TABLE, "--failure-queue", stack["url"], "--wait", "0")
    assert code == 1, err
    assert "still out of sync" in out and task_identity(_task(7)) in out
    assert "left in the queue: message" in out and "not an indexer failure" in out
    assert _messages(stack) == (2, 0)  # left in the queue, and visible again for its alarm
    # --dry-run says the same without writing, and exits 1 too.
    code, out, _ = _run("reindex", "--table", TABLE, "--task", arn, "--dry-run", "--region", REGION)
    assert code == 1 and "would be re-indexed (dry run)" in out


def test_a_missing_table_is_exit_3_naming_the_flag(stack: dict[str, Any]) -> None:
    code, _, err = _run("reindex", "--table", "no-such-table", "--cluster", "prod", "--region", REGION)
    assert code == 3 and "--table" in err and "no-such-table" in err


def test_no_credentials_is_exit_4(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    code, _, err = _run("reindex", "--table", TABLE, "--cluster", "prod", "--region", REGION)
    assert code == 4 and "credentials" in err


def test_no_region_is_a_usage_error(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = _run("reindex", "--table", TABLE, "--cluster", "prod")
    assert code == 2 and "--region" in err


# -- local mode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> Iterator[Any]:
    import os

    from taskbeacon.local.system import LocalSystem

    saved = dict(os.environ)
    system = LocalSystem(port=0).start()
    try:
        yield system
    finally:
        system.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def operator(local: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TASKBEACON_ENDPOINT", local.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local.operator.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local.operator.secret_key)
    monkeypatch.setenv("AWS_REGION", local.region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", local.region)  # local mode's handlers' client (botocore)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return local


def _local_client(local: Any) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=local.dynamodb_endpoint,
        region_name=local.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_local_mode_reindexes_a_task_through_its_gateway(operator: Any) -> None:
    client = _local_client(operator)
    arn = _put(client, 21, table=operator.table_name, cluster="reindex-local")  # not indexed: no drain
    code, out, err = _run("reindex", "--task", arn)
    assert code == 0, err
    assert "1 handed back to the indexer, 1 now in sync" in out
    code, out, _ = _run("reindex", "--cluster", "reindex-local", "--json")  # idempotent, found by cluster
    report = json.loads(out)
    assert code == 0 and (report["checked"], report["inSync"], report["requested"]) == (1, 1, 0)


def test_local_mode_reindexes_its_dead_letters(operator: Any) -> None:
    client = _local_client(operator)
    _put(client, 22, table=operator.table_name, cluster="reindex-dead")
    stream = operator.stream
    shard = stream._shards()[-1]["ShardId"]
    iterator = stream.streams.get_shard_iterator(
        StreamArn=stream.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = []
    while iterator:
        answer = stream.streams.get_records(ShardIterator=iterator)
        records += answer["Records"]
        if not answer["Records"]:
            break
        iterator = answer.get("NextShardIterator")
    mine = [
        r
        for r in records
        if r["dynamodb"]["Keys"]["pk"]["S"] == f"TASK#{task_identity(_task(22, 'reindex-dead'))}"
    ]
    sequence = mine[-1]["dynamodb"]["SequenceNumber"]
    stream.dead_letters.append(
        {
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": sequence,
                "endSequenceNumber": sequence,
                "batchSize": 1,
                "streamArn": stream.stream_arn,
            }
        }
    )
    code, out, err = _run("reindex", "--from-failures", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["settled"] == 1 and report["failureQueue"]["deleted"] == 1
    assert stream.dead_letters == []


def test_the_local_route_refuses_a_bad_body(operator: Any) -> None:
    from taskbeacon.local.reindex import local_reindex

    status, body = local_reindex({"tasks": "x"}, operator.gateway.runtime)
    assert status == 400 and body["error"]["field"] == "tasks"
    status, body = local_reindex({"cluster": "c", "extra": 1}, operator.gateway.runtime)
    assert status == 400 and body["error"]["field"] == "extra"
    status, body = local_reindex({}, operator.gateway.runtime)
    assert status == 400
