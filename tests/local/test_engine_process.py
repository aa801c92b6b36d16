"""The embedded engine with its tables in a child process (what `taskbeacon local` runs).

Every client sees one set of tables: this process's clients (handed to the child through the pipe),
and any other process's (through moto's server, which forwards DynamoDB and Streams to the child).
The tables are not in this process. Errors come back as DynamoDB's errors. Ctrl-C, which reaches
the whole process group, does not stop the child; local mode stopping does.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest

from taskbeacon.local.aws.engine import EmbeddedEngine
from taskbeacon.local.aws.stream_pump import StreamPump, records_of
from tests.local.conftest import create_table

TABLE = "in-the-child"


@pytest.fixture
def engine() -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(tables_in_child=True)
    engine.start()
    yield engine
    engine.stop()


def _client(engine: EmbeddedEngine, session: Any = None) -> Any:
    """A client of boto3's default session (handed to the child in this process), or of ``session``."""
    return (session or boto3._get_default_session()._session).create_client(
        "dynamodb",
        endpoint_url=engine.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _over_http(engine: EmbeddedEngine) -> Any:
    """A client of its own botocore session: no in-process hand-off, a real HTTP request to the port,
    as another process's client would send it."""
    return _client(engine, botocore.session.Session())


def _child(engine: EmbeddedEngine) -> tuple[Any, Any]:
    """The engine's child: its ``EngineProcess`` and its process."""
    child = engine._child
    assert child is not None and child._process is not None
    return child, child._process


def test_every_client_sees_the_tables_of_the_child(engine: EmbeddedEngine) -> None:
    from moto.dynamodb.models import dynamodb_backends

    here = _client(engine)
    create_table(here, TABLE)
    here.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"B": b"\x00\xff"}})
    there = _over_http(engine)
    assert there.get_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "1"}})["Item"]["v"] == {
        "B": b"\x00\xff"
    }
    there.put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "sk": {"S": "2"}})
    assert here.get_item(TableName=TABLE, Key={"pk": {"S": "b"}, "sk": {"S": "2"}})["Item"]["pk"] == {
        "S": "b"
    }
    in_this_process = [
        name
        for account in dynamodb_backends.values()
        for backend in account.values()
        for name in backend.tables
    ]
    assert TABLE not in in_this_process


def test_the_stream_is_read_from_the_child(engine: EmbeddedEngine) -> None:
    client = _client(engine)
    create_table(client, TABLE)
    client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
    events: list[dict[str, Any]] = []
    StreamPump(client, TABLE, lambda event, context: events.append(event)).drain()
    assert [record["eventName"] for record in records_of(events)] == ["INSERT", "REMOVE"]


def test_errors_come_back_as_dynamodbs(engine: EmbeddedEngine) -> None:
    client = _client(engine)
    create_table(client, TABLE)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "a"}, "sk": {"S": "1"}},
            ConditionExpression="attribute_exists(pk)",
        )
    there = _over_http(engine)
    with pytest.raises(there.exceptions.ResourceNotFoundException):
        there.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})


def test_ctrl_c_does_not_stop_the_child_and_stopping_local_mode_does(engine: EmbeddedEngine) -> None:
    client = _client(engine)
    create_table(client, TABLE)
    _, process = _child(engine)
    os.kill(process.pid, signal.SIGINT)  # what Ctrl-C sends the whole group
    client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})  # still answering
    assert process.poll() is None
    engine.stop()
    assert process.wait(timeout=10) == 0


def test_a_chunked_request_from_another_process_reaches_the_child(engine: EmbeddedEngine) -> None:
    import http.client
    import json
    from urllib.parse import urlsplit

    create_table(_client(engine), TABLE)
    where = urlsplit(engine.endpoint)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    body = json.dumps({"TableName": TABLE}).encode()
    connection.request(
        "POST",
        "/",
        body=iter([body[:5], body[5:]]),  # no Content-Length: Transfer-Encoding chunked
        headers={
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
        encode_chunked=True,
    )
    answer = connection.getresponse()
    assert answer.status == 200
    assert json.loads(answer.read())["Table"]["TableName"] == TABLE


def test_a_call_cut_short_ends_the_child_and_no_caller_gets_anothers_answer(engine: EmbeddedEngine) -> None:
    """An interrupt between a request and its answer would leave that answer in the pipe for the next
    caller: the child is ended instead, and every later call says so."""
    from taskbeacon.local.aws.engine_process import EngineGone

    client = _client(engine)
    create_table(client, TABLE)
    child, process = _child(engine)
    link = child._link
    assert link is not None
    answers = link._answers

    class Interrupted:
        def recv_bytes(self) -> bytes:
            raise KeyboardInterrupt  # Ctrl-C while the answer is on its way

    link._answers = Interrupted()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        client.describe_table(TableName=TABLE)
    link._answers = answers
    assert process.wait(timeout=10) != 0  # killed: nothing is left in the pipe for anyone
    with pytest.raises(EngineGone, match="ended"):
        client.list_tables()


def test_a_child_that_dies_is_an_error_not_a_hang(engine: EmbeddedEngine) -> None:
    from taskbeacon.local.aws.engine_process import EngineGone

    client = _client(engine)
    os.kill(_child(engine)[1].pid, signal.SIGKILL)
    with pytest.raises(EngineGone, match="exit code"):
        client.list_tables()


def test_stop_ends_a_child_that_does_not_answer(engine: EmbeddedEngine) -> None:
    """A hung child (stopped here) with a call waiting on it: stop() kills it rather than wait for ever."""
    import threading

    client = _client(engine)
    create_table(client, TABLE)
    _, process = _child(engine)
    os.kill(process.pid, signal.SIGSTOP)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.list_tables()
        except BaseException as error:
            outcome.append(error)

    waiting = threading.Thread(target=call, daemon=True)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # waiting on the stopped child
    engine.stop()
    waiting.join(10)
    assert process.poll() is not None
    assert not waiting.is_alive() and outcome  # the waiting call failed instead of hanging
