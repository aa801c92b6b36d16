"""The stdlib signer against AWS's published test vectors and, byte for byte, against botocore's SigV4Auth."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from taskbeacon_agent import sigv4
from taskbeacon_agent.credentials import Credentials

SUITE = json.loads((Path(__file__).parent / "data" / "aws-sigv4-testsuite-vectors.json").read_text())
NOW = datetime.datetime(2026, 11, 28, 9, 14, 3, tzinfo=datetime.UTC)


def botocore_headers(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    creds: Credentials,
    region: str,
    service: str,
) -> list[tuple[str, str]]:
    req = AWSRequest(method=method, url=url, data=body)
    for k, v in headers:
        req.headers[k] = v  # HTTPHeaders appends: duplicates are kept, as on the wire
    bc = BotoCredentials(creds.access_key, creds.secret_key, creds.token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(bc, service, region).add_auth(req)
    return list(req.headers.items())


def ours(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    creds: Credentials,
    region: str,
    service: str,
) -> list[tuple[str, str]]:
    return sigv4.sign(method, url, headers, body, credentials=creds, region=region, service=service, now=NOW)


def as_map(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in headers)


@pytest.mark.parametrize("vector", SUITE["vectors"], ids=lambda v: v["name"])
def test_aws_published_vectors(vector: dict) -> None:
    cfg = SUITE["config"]
    creds = Credentials(cfg["accessKeyId"], cfg["secretAccessKey"])
    url = (
        "https://example.amazonaws.com" + vector["path"] + ("?" + vector["query"] if vector["query"] else "")
    )
    now = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
    headers = [(k, v) for k, v in vector["headers"]]
    signed = sigv4.sign(
        vector["method"],
        url,
        headers,
        vector["body"].encode(),
        credentials=creds,
        region=cfg["region"],
        service=cfg["service"],
        now=now,
    )
    assert {k.lower(): v for k, v in signed}["authorization"] == vector["authorization"]


def test_canonical_request_matches_published_trim_example() -> None:
    creq, names = sigv4.canonical_request(
        "GET",
        "https://example.amazonaws.com/",
        [
            ("Host", "example.amazonaws.com"),
            ("My-Header1", " value1"),
            ("My-Header2", ' "a   b   c"'),
            ("X-Amz-Date", "20150830T123600Z"),
        ],
        b"",
    )
    assert creq == (
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
        'my-header2:"a b c"\nx-amz-date:20150830T123600Z\n\n'
        "host;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert names == "host;my-header1;my-header2;x-amz-date"


API = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
FIXED = [
    ("POST", API + "/snapshots", [("Content-Type", "application/json")], b'{"a":1}'),
    ("GET", API + "/tasks?cluster=a&limit=5", [], b""),
    ("GET", "http://127.0.0.1:8080/search?q=10.1.2.3&at=09%3A14Z", [("Accept", "*/*")], b""),
    ("POST", "https://h.io:8443/a/./b/../c//d/", [("User-Agent", "x"), ("X-C", " a  b ")], b"\x00\xff"),
    ("GET", "https://h.example.com/with space/ü", [], b""),
]  # fmt: skip


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLETOKEN+/="])
@pytest.mark.parametrize(("method", "url", "headers", "body"), FIXED)
def test_fixed_requests_identical_to_botocore(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes, token: str | None
) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    assert as_map(ours(method, url, headers, body, creds, "eu-west-1", "execute-api")) == as_map(
        botocore_headers(method, url, headers, body, creds, "eu-west-1", "execute-api")
    )


_seg = st.one_of(
    st.text(alphabet=st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@% ", "ü", "ሴ"]), max_size=8),
    st.sampled_from(["..", ".", ""]),
)
_path = st.lists(_seg, max_size=5).map(lambda segs: "/" + "/".join(segs))
_qtok = st.text(alphabet=st.sampled_from(list("abcXYZ019-._~%+*")), max_size=6)
_query = st.lists(st.tuples(_qtok, _qtok, st.booleans()), max_size=4).map(
    lambda pairs: "&".join(k + ("=" + v if eq else "") for k, v, eq in pairs)
)
_hname = st.sampled_from(
    [
        "Content-Type",
        "X-Foo",
        "x-foo",
        "X-Amz-Meta-A",
        "Accept",
        "User-Agent",
        "Connection",
        "Host",
        "x-amz-date",
        "Authorization",
        "X-Amzn-Trace-Id",
        "Traceparent",
    ]
)
_hvalue = st.text(alphabet=st.sampled_from(list("abcXYZ019 -_/;=,\"'\t")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "delete"]),
    host=st.sampled_from(
        ["https://abc.execute-api.us-east-1.amazonaws.com", "http://127.0.0.1:4566", "https://h:443"]
    ),
    path=_path,
    query=_query,
    headers=st.lists(st.tuples(_hname, _hvalue), max_size=5),
    body=st.binary(max_size=64),
    token=st.one_of(st.none(), st.text(alphabet="abcXYZ019+/=", min_size=1, max_size=20)),
    region=st.sampled_from(["us-east-1", "eu-central-2", "cn-north-1"]),
)
def test_generated_requests_identical_to_botocore(
    method: str,
    host: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    token: str | None,
    region: str,
) -> None:
    url = host + path + ("?" + query if query else "")
    creds = Credentials("AKIDEXAMPLE", "secret/with+chars=", token)
    assert as_map(ours(method, url, headers, body, creds, region, "execute-api")) == as_map(
        botocore_headers(method, url, headers, body, creds, region, "execute-api")
    )
