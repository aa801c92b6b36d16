"""Bodies of local mode's own routes (``POST /_local/events``, ``POST /_local/credentials``) through
the real gateway: whatever bytes arrive, a body that is not a JSON object the route can take gets a
400 that names the place, never a 5xx or a dropped connection. Every class is fuzzed on both routes;
the credentials route (which needs no store) also shows the same documents, repaired, are accepted."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskbeacon.local.aws.gateway import MAX_JSON_DEPTH
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send
from tests.hypothesis_profiles import examples, suppressed

pytestmark = pytest.mark.http
FUZZ = settings(
    max_examples=examples(30), suppress_health_check=suppressed(HealthCheck.function_scoped_fixture)
)
ROUTES = ("/_local/events", "/_local/credentials")


def post(local: LocalSystem, operator: dict[str, str], path: str, body: bytes) -> tuple[int, Any]:
    reply = send(local.url, "POST", path, credentials=operator, body=body)  # raises if dropped
    return reply.status, reply.body


def assert_400(status: int, body: Any, field: str, words: str) -> None:
    assert status == 400, body
    assert body["error"]["code"] == "invalid_input", body
    assert body["error"]["field"] == field, body
    assert words in body["error"]["message"], body


def credentials_request(**extra: Any) -> dict[str, Any]:
    return {"taskArn": f"arn:aws:ecs:us-east-1:111122223333:task/demo/{uuid.uuid4().hex}", **extra}


def event(**detail_extra: Any) -> dict[str, Any]:
    task_arn = f"arn:aws:ecs:us-east-1:111122223333:task/demo/{uuid.uuid4().hex}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "111122223333",
        "time": "2026-11-28T09:14:03Z",
        "region": "us-east-1",
        "resources": [task_arn],
        "detail": {"taskArn": task_arn, "lastStatus": "RUNNING", "version": 1, **detail_extra},
    }


def document_for(path: str, **extra: Any) -> dict[str, Any]:
    return event(**extra) if path == "/_local/events" else credentials_request(**extra)


# -- nesting depth ----------------------------------------------------------------------------------
def nested(depth: int, kinds: str) -> Any:
    """A value nested ``depth`` levels (arrays/objects in the order ``kinds`` cycles through)."""
    value: Any = 1
    for level in range(depth):
        value = [value] if kinds[level % len(kinds)] == "[" else {"k": value}
    return value


def nested_text(depth: int, kinds: str) -> str:
    """The same as JSON text, built without json.dumps (which recurses)."""
    opens = "".join("[" if kinds[level % len(kinds)] == "[" else '{"k":' for level in reversed(range(depth)))
    closes = "".join("]" if kinds[level % len(kinds)] == "[" else "}" for level in range(depth))
    return opens + "1" + closes


kinds = st.sampled_from(["[", "{", "[{", "{[", "[[{"])


@FUZZ
@given(depth=st.integers(min_value=MAX_JSON_DEPTH, max_value=200_000), shape=kinds, data=st.data())
@pytest.mark.parametrize("path", ROUTES)
def test_json_nested_too_deep_anywhere_is_400(
    local: LocalSystem, operator: dict[str, str], path: str, depth: int, shape: str, data: st.DataObject
) -> None:
    # The value sits one level inside the body object, so the body nests depth + 1 levels, beyond
    # the limit (and, from ~1,000 levels, beyond what json.loads can take: RecursionError).
    where = data.draw(st.sampled_from(["x", "detail"]))
    document = json.dumps(document_for(path))[:-1] + f', "{where}": ' + nested_text(depth, shape) + "}"
    status, body = post(local, operator, path, document.encode())
    assert_400(status, body, "body", f"deeper than {MAX_JSON_DEPTH} levels")


@FUZZ
@given(depth=st.integers(min_value=0, max_value=MAX_JSON_DEPTH - 1), shape=kinds)
def test_json_nested_within_the_limit_is_read(
    local: LocalSystem, operator: dict[str, str], depth: int, shape: str
) -> None:
    status, body = post(
        local,
        operator,
        "/_local/credentials",
        json.dumps(credentials_request(x=nested(depth, shape))).encode(),
    )
    assert status == 200 and body["AccessKeyId"], body


# -- UTF-8 breakage ---------------------------------------------------------------------------------
BROKEN_UTF8 = {
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-slash-4": b"\xf0\x80\x80\xaf",
    "overlong-nul": b"\xc0\x80",
    "encoded-surrogate": b"\xed\xa0\x80",
    "beyond-u10ffff": b"\xf4\x90\x80\x80",
    "lone-continuation": b"\x80",
    "truncated-3": b"\xe2\x82",
    "truncated-4": b"\xf0\x9f\x98",
    "invalid-ff": b"\xff",
    "invalid-fe": b"\xfe",
    "latin-1": "é".encode("latin-1"),
}


@FUZZ
@given(broken=st.sampled_from(sorted(BROKEN_UTF8)), text=st.text(max_size=20), data=st.data())
@pytest.mark.parametrize("path", ROUTES)
def test_invalid_or_overlong_utf8_anywhere_is_400(
    local: LocalSystem, operator: dict[str, str], path: str, broken: str, text: str, data: st.DataObject
) -> None:
    good = json.dumps(document_for(path, note=text), ensure_ascii=False).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(good)))
    body = good[:cut] + BROKEN_UTF8[broken] + good[cut:]
    status, answer = post(local, operator, path, body)
    assert_400(status, answer, "body", "not valid UTF-8")


@FUZZ
@given(
    surrogate=st.integers(min_value=0xD800, max_value=0xDFFF),
    place=st.sampled_from(["value", "key", "nested-value", "list-item"]),
)
@pytest.mark.parametrize("path", ROUTES)
def test_lone_surrogate_escapes_are_400_naming_the_field(
    local: LocalSystem, operator: dict[str, str], path: str, surrogate: int, place: str
) -> None:
    # Valid UTF-8 and valid JSON, but "\udXXX" decodes to a string no store can encode.
    escape = f"\\u{surrogate:04x}"
    fragment, field = {
        "value": (f'"note": "a{escape}b"', "note"),
        "key": (f'"k{escape}": 1', f'body key "k\\u{surrogate:04x}"'),
        "nested-value": (f'"note": {{"deep": ["x", "{escape}"]}}', "note.deep[1]"),
        "list-item": (f'"notes": ["{escape}"]', "notes[0]"),
    }[place]
    body = json.dumps(document_for(path))[:-1] + ", " + fragment + "}"
    status, answer = post(local, operator, path, body.encode())
    assert_400(status, answer, field, "not valid unicode text")


# -- not JSON, or not an object ---------------------------------------------------------------------
def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


not_json = st.one_of(
    st.binary(min_size=1, max_size=200).filter(lambda raw: not _is_json(raw)),
    st.text(min_size=1, max_size=100).map(str.encode).filter(lambda raw: not _is_json(raw)),
    st.sampled_from([b"NaN", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b"\xef\xbb\xbf{}"]),
    st.sampled_from([b'{"a": 1', b'{"a": 1}}', b"{'a': 1}", b'{"a": 01}', b'{"a": .5}', b"{,}"]),
    st.integers(min_value=4301, max_value=6000).map(lambda n: b'{"n": ' + b"7" * n + b"}"),
)


@FUZZ
@given(body=not_json)
@pytest.mark.parametrize("path", ROUTES)
def test_bodies_that_are_not_json_are_400(
    local: LocalSystem, operator: dict[str, str], path: str, body: bytes
) -> None:
    status, answer = post(local, operator, path, body)
    assert status == 400, answer
    assert answer["error"]["field"] == "body", answer


@FUZZ
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children, max_size=3),
        max_leaves=8,
    )
)
@pytest.mark.parametrize("path", ROUTES)
def test_json_that_is_not_an_object_is_400(
    local: LocalSystem, operator: dict[str, str], path: str, value: Any
) -> None:
    assume(not isinstance(value, dict))
    status, answer = post(local, operator, path, json.dumps(value).encode())
    assert_400(status, answer, "body", "must be a JSON object")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"taskArn": 7}, "taskArn"),
        ({"taskArn": "arn:aws:ecs:us-east-1:111122223333:task/"}, "taskArn"),
        ({"taskArn": "arn:aws:ecs:us-east-1:12:task/demo/abc"}, "taskArn"),
        ({"taskArn": "arn:aws:s3:::bucket/task/abc"}, "taskArn"),
        ({"collector": True, "accountId": {"x": 1}}, "accountId"),
        ({"collector": True, "accountId": "12345"}, "accountId"),
    ],
)
def test_credentials_requests_name_the_bad_field(
    local: LocalSystem, operator: dict[str, str], document: dict[str, Any], field: str
) -> None:
    status, answer = post(local, operator, "/_local/credentials", json.dumps(document).encode())
    assert_400(status, answer, field, "")
