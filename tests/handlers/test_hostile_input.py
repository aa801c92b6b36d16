"""Classes of hostile input, generated rather than listed: a 4xx naming the place, never an exception.

Depth past any parser's limit, text that is not UTF-8, numbers past what DynamoDB (or a double)
holds, constants that are not JSON, oversized strings and timestamps at the edge of the calendar
are put anywhere in a real snapshot's bytes, or anywhere in a real EventBridge event; query times
come in every UTC offset. An exception escaping a handler would be API Gateway's 502.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import AmbiguousTask
from core.jsonbody import MAX_DEPTH, child
from handlers import wiring
from taskbeacon.local.aws.lambda_context import LocalContext
from taskbeacon.local.aws.principals import PrincipalRegistry
from tests.ecs_fixtures import FIXTURES
from tests.handlers.conftest import ACCOUNT, http
from tests.handlers.test_ingest_fuzz import names_a_place
from tests.hypothesis_profiles import examples, suppressed
from tests.mutation import paths

FUZZ = settings(
    max_examples=examples(60),  # derandomized by the "ci" profile, randomized by "fuzz"
    suppress_health_check=suppressed(HealthCheck.too_slow, HealthCheck.function_scoped_fixture),
)
MARK = "\u2603hostile\u2603"  # stands where the raw hostile bytes go
BAD_UTF8 = (
    b"\xff",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
    b"\xe2\x82",
)


def _nested(depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b'{"a": ' if opener == b"{" else b"["
    return inner * depth + b"1" * (opener == b"{") + closer * depth


# Raw JSON tokens, as bytes, each of a class the issue found answered 502.
HOSTILE_TOKENS = st.one_of(
    st.builds(_nested, st.integers(MAX_DEPTH - 2, 3000), st.sampled_from([b"[", b"{"])),
    st.integers(39, 5000).map(lambda digits: b"-" * (digits % 2) + b"9" * digits),
    st.sampled_from([b"1e400", b"-1e999", b"NaN", b"Infinity", b"-Infinity"]),
    st.builds(
        lambda bad, text: b'"' + text.encode() + bad + b'"', st.sampled_from(BAD_UTF8), st.text(max_size=4)
    ),
    st.sampled_from([b'"\\ud800"', b'"x\\udfff"', b'{"\\udc00": 1}']),
    st.sampled_from(
        [b'"9999-12-31T23:59:59-14:00"', b'"0001-01-01T00:00:00+14:00"', b'"10000-01-01T00:00:00Z"']
    ),
    st.integers(200_000, 300_000).map(lambda size: b'"' + b"x" * size + b'"'),  # past MAX_BODY_BYTES
)


def _snapshot() -> dict[str, Any]:
    task = json.loads((FIXTURES / "v4-task-fargate-docs.json").read_text())
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/demo/{uuid.uuid4().hex}"
    task["Cluster"] = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/demo"
    return {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": "2026-01-01T00:00:00Z",
        "sequence": 1,
        "reason": "start",
        "agent": {"version": "t", "mode": "once", "instanceId": "a"},
        "task": task,
    }


def _place(path: tuple[Any, ...]) -> str:
    place = "body"
    for part in path:
        place = child(place, part)
    return place


def _with_mark(doc: Any, path: tuple[Any, ...]) -> Any:
    doc = json.loads(json.dumps(doc))
    if not path:
        return MARK
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = MARK
    return doc


def test_hostile_tokens_anywhere_in_a_snapshot_are_refused_naming_the_place(
    table: Any, principals: PrincipalRegistry
) -> None:
    original = _snapshot()
    candidates = sorted(paths(original), key=len, reverse=True)

    @FUZZ
    @given(path=st.sampled_from(candidates), token=HOSTILE_TOKENS)
    def run(path: tuple[Any, ...], token: bytes) -> None:
        doc = _with_mark(original, path)
        body = json.dumps(doc).encode().replace(json.dumps(MARK).encode(), token)
        reply = http("POST", "/snapshots", principals.collector(ACCOUNT), body)
        assert reply.status in (202, 400, 403, 413), reply.body
        if reply.status == 400:
            field = reply.body["error"]["field"]
            assert isinstance(field, str), reply.body
            # The place is in the document, or inside the hostile value itself (deep nesting).
            inside = field.startswith(_place(path)) or field == "body"
            assert names_a_place(doc, field) or inside, (field, path, reply.body)

    run()


def _deep(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


HOSTILE_VALUES = st.one_of(
    st.integers(MAX_DEPTH - 2, 5000).map(_deep),
    st.integers(39, 400).map(lambda digits: int("9" * digits)),
    st.sampled_from([float("inf"), float("-inf"), float("nan")]),
    st.sampled_from(["\ud800", "ok\udfff", {"\udc00": 1}]),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", 2**63, -(2**63) - 1]),
)


def test_hostile_values_anywhere_in_an_event_are_dropped_naming_the_place(
    table: Any, principals: PrincipalRegistry
) -> None:
    from handlers import events

    original = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    candidates = sorted(paths(original), key=len, reverse=True)

    @FUZZ
    @given(path=st.sampled_from(candidates), value=HOSTILE_VALUES)
    def run(path: tuple[Any, ...], value: Any) -> None:
        doc = _with_mark(original, path)
        event = doc if path else {}
        if path:
            parent = event
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value
        result = events.handler(event, LocalContext("taskbeacon-events"))  # never raises
        if not result["accepted"]:
            assert isinstance(result["field"], str) and names_a_place(event, result["field"]), result

    run()


def test_detail_version_bounds(table: Any) -> None:
    from handlers import events

    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    for version in (int("9" * 400), 2**63, -1, 1.5, "7"):
        event["detail"]["version"] = version
        result = events.handler(json.loads(json.dumps(event)), LocalContext("taskbeacon-events"))
        assert result["accepted"] is False and result["field"] == "detail.version", (version, result)


def _seed(principals: PrincipalRegistry) -> str:
    doc = _snapshot()
    doc["collectedAt"] = "2026-11-28T09:00:00Z"
    doc["task"]["PullStartedAt"] = "2026-11-28T08:59:00Z"
    doc["task"]["KnownStatus"] = "RUNNING"
    reply = http("POST", "/snapshots", principals.collector(ACCOUNT), json.dumps(doc).encode())
    assert reply.status == 202, reply.body
    return str(reply.body["taskIds"][0])


def test_since_and_at_mean_the_same_instant_in_every_offset(
    table: Any, principals: PrincipalRegistry
) -> None:
    _seed(principals)
    operator = principals.operator()

    def ask(path: str, query: str) -> Any:
        reply = http("GET", path, operator, query=query)
        assert reply.status == 200, reply.body
        return [item.get("taskId") or item["task"]["taskId"] for item in reply.body["items"]]

    @FUZZ
    @given(
        instant=st.datetimes(
            min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 29), timezones=st.just(UTC)
        ),
        minutes=st.integers(-14 * 60, 14 * 60),
    )
    def run(instant: datetime, minutes: int) -> None:
        zone = timezone(timedelta(minutes=minutes))
        local = instant.astimezone(zone).isoformat()
        utc = instant.isoformat().replace("+00:00", "Z")
        encoded = local.replace("+", "%2B")
        assert ask("/tasks", f"since={encoded}") == ask("/tasks", f"since={utc}")
        assert ask("/search", f"ip=10.0.0.9&at={encoded}") == ask("/search", f"ip=10.0.0.9&at={utc}")

    run()


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59%2B14:00"]
)
def test_times_at_the_edge_of_the_calendar_are_400_or_answered(
    table: Any, principals: PrincipalRegistry, moment: str
) -> None:
    for path, query in (("/tasks", f"since={moment}"), ("/search", f"ip=10.1.2.3&at={moment}")):
        reply = http("GET", path, principals.operator(), query=query)
        assert reply.status in (200, 400), reply.body
        if reply.status == 400:
            assert reply.body["error"]["field"] in ("since", "at")


def test_naive_times_stay_400(table: Any, principals: PrincipalRegistry) -> None:
    for path, query, field in (
        ("/tasks", "since=2026-11-28T09:00:00", "since"),
        ("/search", "ip=10.0.0.1&at=2026-11-28T09:00:00", "at"),
    ):
        reply = http("GET", path, principals.operator(), query=query)
        assert reply.status == 400 and reply.body["error"]["field"] == field, reply.body


ROUTES = [
    ("GET", "/tasks", ""),
    ("GET", "/tasks/0123456789abcdef0123456789abcdef", ""),
    ("GET", "/tasks/0123456789abcdef0123456789abcdef/history", ""),
    ("GET", "/search", "ip=10.0.0.1&"),
    ("GET", "/summary", "by=cluster&"),
    ("GET", "/openapi.json", ""),
    ("POST", "/snapshots", ""),
]


@pytest.mark.parametrize(("method", "path", "valid"), ROUTES)
def test_unknown_query_parameters_are_400_on_every_route(
    table: Any, principals: PrincipalRegistry, method: str, path: str, valid: str
) -> None:
    caller = principals.operator() if method == "GET" else principals.collector(ACCOUNT)
    body = json.dumps(_snapshot()).encode() if method == "POST" else None
    for name in ("clustr", "limits", "x-debug"):
        reply = http(method, path, caller, body=body, query=f"{valid}{name}=1")
        assert reply.status == 400, reply.body
        assert reply.body["error"]["field"] == name and name in reply.body["error"]["message"]


def test_ambiguous_bare_task_id_is_409_with_candidates(
    table: Any, principals: PrincipalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    arns = [
        f"arn:aws:ecs:{region}:{ACCOUNT}:task/c/0123456789abcdef0123456789abcdef"
        for region in ("us-east-1", "eu-west-1")
    ]

    class Ambiguous:
        def get_task(self, ref: str) -> Any:
            raise AmbiguousTask("the task id names 2 tasks; ask again by task ARN", candidates=arns)

        def history(self, ref: str, **_: Any) -> Any:
            return self.get_task(ref)

    monkeypatch.setattr(wiring, "query_service", Ambiguous)
    for path in (
        "/tasks/0123456789abcdef0123456789abcdef",
        "/tasks/0123456789abcdef0123456789abcdef/history",
    ):
        reply = http("GET", path, principals.operator())
        assert reply.status == 409, reply.body
        assert reply.body["error"]["candidates"] == arns and reply.body["error"]["field"] == "taskId"


def test_every_traced_handler_and_method_keeps_responses_out_of_traces() -> None:
    handlers = Path(__file__).parents[2] / "lambdas" / "handlers"
    for source in sorted(handlers.glob("*.py")):
        for decorator in re.findall(r"@tracer\.capture_\w+(?:\([^)]*\))?", source.read_text()):
            assert "capture_response=False" in decorator, (source.name, decorator)


# -- task ids: what no ECS task can have is a 400 naming taskId, what one could have is looked up ---
ID_ALPHABET = "abcdefABCDEF0123456789-_xyzXYZ"
could_be_an_id = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64)
cannot_be_an_id = st.one_of(
    st.text(alphabet=ID_ALPHABET, min_size=65, max_size=300),  # longer than ECS (or ingest) allows
    st.text(min_size=1, max_size=80).filter(
        lambda text: not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text, re.ASCII) and not text.startswith("arn:")
    ),
)


@FUZZ
@given(
    reference=st.one_of(
        cannot_be_an_id,
        cannot_be_an_id.map(lambda task_id: f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/c/{task_id}"),
    ),
    history=st.booleans(),
)
def test_what_cannot_be_a_task_id_is_400_naming_task_id(
    table: Any, principals: PrincipalRegistry, reference: str, history: bool
) -> None:
    path = f"/tasks/{quote(reference, safe='')}" + ("/history" if history else "")
    reply = http("GET", path, principals.operator())
    assert reply.status == 400, (reference, reply.body)
    assert reply.body["error"]["field"] == "taskId", reply.body


@FUZZ
@given(
    reference=st.one_of(
        could_be_an_id,
        could_be_an_id.map(lambda task_id: f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/c/{task_id}"),
        could_be_an_id.map(lambda task_id: f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/{task_id}"),
    ),
    history=st.booleans(),
)
def test_what_could_be_a_task_id_is_looked_up(
    table: Any, principals: PrincipalRegistry, reference: str, history: bool
) -> None:
    path = f"/tasks/{quote(reference, safe='')}" + ("/history" if history else "")
    reply = http("GET", path, principals.operator())
    assert reply.status == 404 and reply.body["error"]["field"] == "taskId", (reference, reply.body)
