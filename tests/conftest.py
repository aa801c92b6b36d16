"""Fixtures every test area may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.store.schema import create_table_request


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A moto DynamoDB (in memory, no HTTP) holding the table exactly as the stack defines it."""
    keys = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in [*keys, "AWS_ENDPOINT_URL_DYNAMODB"]}
    os.environ.update(keys)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**create_table_request("tasks"))
            yield client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
