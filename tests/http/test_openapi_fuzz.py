"""Fuzzing from the OpenAPI document against local mode's real gateway (a small, deterministic run).

Every operation of the committed document gets requests generated from its parameters and body
schema (schemathesis, over hypothesis's derandomized "ci" profile), SigV4-signed with the operator's
credentials by a schemathesis auth hook (a ``requests`` auth that signs the final prepared
request, so the signature covers exactly the bytes sent). Each answer must be a documented status
code, match the documented schema for it, and never be a 5xx. The long, randomized run is ``make fuzz``.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.openapi import load_document
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot, send
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.http

# ~40 cases for each of the 7 operations: a few hundred requests in well under a minute.
EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]


class OperatorSigV4(requests.auth.AuthBase):
    """SigV4 (execute-api) over the request exactly as it will be sent.

    The query string is first rewritten in SigV4's canonical encoding (RFC 3986, ``%20`` not ``+``),
    so the raw URL and the canonical request agree whatever encoding the generator chose.
    """

    def __init__(self, credentials: dict[str, str], region: str = "us-east-1") -> None:
        self.credentials = Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"])
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.url is not None and request.method is not None
        parts = urlsplit(request.url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}" for key, value in pairs)
        request.url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        body = request.body or b""
        data = body.encode() if isinstance(body, str) else body
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")}
        signed = AWSRequest(method=request.method, url=request.url, data=data, headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date"):
            request.headers[name] = signed.headers[name]
        return request


FLEET_SOURCES = {
    "tmde-v4": ("v4-task-ec2-awsvpc.json", "v4-task-fargate-docs.json", "v4-task-ec2-bridge.json"),
    "tmde-v3": ("v3-task-ec2-awsvpc.json",),
    "tmde-v2": ("v2-metadata-task-awsvpc.json",),
}
FLEET_IP = "10.66.0.7"


def _arn_key(task: dict[str, Any]) -> str:
    return "TaskARN" if "TaskARN" in task else "Arn"


@pytest.fixture(scope="module")
def fleet(local: LocalSystem, operator: dict[str, str]) -> dict[str, str]:
    """A few real tasks (each source, one stopped by an event) so that 200s carry full documents."""
    ids: dict[str, str] = {}
    for source, names in FLEET_SOURCES.items():
        for name in names:
            task = fixture(name)
            key = _arn_key(task)
            task_id = uuid.uuid4().hex
            task[key] = task[key].rsplit("/", 1)[0] + "/" + task_id
            if name == "v4-task-ec2-awsvpc.json":
                for container in task["Containers"]:
                    for network in container.get("Networks", []):
                        network["IPv4Addresses"] = [FLEET_IP]
            creds = task_credentials(local, operator, task[key])
            reply = post_snapshot(local, creds, task, source=source, collected_at="2026-11-28T09:00:00Z")
            assert reply.status == 202, (name, reply.body)
            ids[name] = task_id
    event = fixture("eventbridge-task-state-change-fargate-running.json")
    event["detail"]["taskArn"] = event["detail"]["taskArn"].rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
    for status, version in (("RUNNING", 1), ("STOPPED", 3)):
        event["detail"].update(lastStatus=status, version=version)
        reply = send(
            local.url, "POST", "/_local/events", credentials=operator, body=json.dumps(event).encode()
        )
        assert reply.status == 200, reply.body
    ids["event"] = event["detail"]["taskArn"].rsplit("/", 1)[-1]
    return ids


@pytest.fixture(scope="module")
def api(local: LocalSystem, operator: dict[str, str], fleet: dict[str, str]) -> Any:
    schema = schemathesis.openapi.from_dict(load_document())
    schema.config.update(base_url=local.url)
    schema.auth.set_from_requests(OperatorSigV4(operator))
    return schema


def _operations() -> list[tuple[str, str]]:
    document = load_document()
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


def test_every_operation_is_fuzzed() -> None:
    from core.vocabulary import ROUTES

    assert _operations() == sorted((route.method, route.path) for route in ROUTES)
    assert len(_operations()) == 8  # POST /snapshots and the seven read routes, /coverage included


@pytest.mark.hypothesis  # hypothesis runs inside: `make fuzz` (-m hypothesis) selects it too
@pytest.mark.parametrize(("method", "path"), _operations(), ids=str)
def test_operation_answers_only_what_the_document_says(api: Any, method: str, path: str) -> None:
    operation = api[path][method]
    statuses: Counter[int] = Counter()
    session = requests.Session()

    @settings(
        max_examples=examples(EXAMPLES_PER_OPERATION),  # the same requests every run under "ci"
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(session=session, checks=CHECKS, timeout=30)
        statuses[response.status_code] += 1

    run()
    # The signature is right (not every answer a 403 from the gateway), so the handlers were reached.
    assert sum(count for status, count in statuses.items() if status != 403) > 0, statuses


def test_real_answers_match_the_document(api: Any, fleet: dict[str, str], operator: dict[str, str]) -> None:
    """Requests that find something: every answer validates against its documented schema."""
    task_id = fleet["v4-task-ec2-awsvpc.json"]
    requests_made = [
        ("/tasks", "GET", {}, {"limit": 3}),
        ("/tasks", "GET", {}, {"status": "RUNNING", "since": "2026-11-28T14:00:00+05:00"}),
        ("/tasks/{taskId}", "GET", {"taskId": task_id}, {}),
        ("/tasks/{taskId}", "GET", {"taskId": fleet["event"]}, {}),
        ("/tasks/{taskId}/history", "GET", {"taskId": fleet["event"]}, {"limit": 1}),
        ("/search", "GET", {}, {"ip": FLEET_IP}),
        ("/search", "GET", {}, {"ip": FLEET_IP, "at": "2026-11-28T04:00:00-05:00"}),
        ("/search", "GET", {}, {"containerName": "curl"}),  # pause containers are not indexed
        ("/summary", "GET", {}, {"by": "launchType"}),
        ("/tasks", "GET", {}, {"clustr": "typo"}),
        ("/tasks/{taskId}", "GET", {"taskId": uuid.uuid4().hex}, {}),
    ]
    session = requests.Session()
    signer = OperatorSigV4(operator)
    found = Counter[str]()
    for path, method, path_parameters, query in requests_made:
        case = api[path][method].Case(path_parameters=path_parameters, query=query)
        # Explicit cases get no auth from the schema's hook: sign them with the same auth.
        response = case.call_and_validate(session=session, checks=CHECKS, timeout=30, auth=signer)
        assert response.status_code != 403, response.text
        body = response.json()
        found[path] += len(body.get("items", [])) if isinstance(body, dict) else 0
    assert found["/search"] >= 2 and found["/tasks"] >= 1, found


@given(st.just(None))
@settings(max_examples=1, database=None)
def test_signing_hook_rewrites_query_in_canonical_form(_: None) -> None:
    prepared = requests.Request("GET", "http://127.0.0.1:1/search", params={"label": "a b=c*"}).prepare()
    signed = OperatorSigV4({"AccessKeyId": "AKID", "SecretAccessKey": "secret"})(prepared)
    assert signed.url == "http://127.0.0.1:1/search?label=a%20b%3Dc%2A"
    assert signed.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
