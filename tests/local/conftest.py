"""What the local-mode tests share: a client of a fresh embedded engine, and a small table on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from taskbeacon.local.aws.engine import EmbeddedEngine


@pytest.fixture
def engine_client() -> Iterator[Any]:
    """A DynamoDB client of an embedded engine of its own (moto with local mode's patches installed)."""
    engine = EmbeddedEngine()
    endpoint = engine.start()
    client: Any = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    yield client
    engine.stop()


def create_table(client: Any, name: str) -> None:
    """A table keyed ``pk``/``sk`` with a stream of both images."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
