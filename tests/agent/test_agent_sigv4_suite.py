"""The signer against the AWS SigV4 test suite's session-token and path-normalisation vectors.

The vectors are vendored verbatim under fixtures/sigv4/ (see its README for source and licence).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from taskbeacon_agent import sigv4
from taskbeacon_agent.credentials import Credentials

VECTORS = Path(__file__).parent / "fixtures" / "sigv4"
SUITE_TIME = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NORMALISE_PATH = [
    "get-relative",
    "get-relative-relative",
    "get-slash",
    "get-slash-dot-slash",
    "get-slash-pointless-dot",
    "get-slashes",
    "get-space",
    "get-utf8",
]


class Signed:
    def __init__(self, name: str) -> None:
        text = (VECTORS / (name + ".sreq")).read_text(encoding="utf-8")
        request_line, *lines = text.split("\n")
        self.method, rest = request_line.split(" ", 1)
        self.path = rest.rsplit(" HTTP/1.1", 1)[0]  # may contain a space (get-space)
        self.headers: list[tuple[str, str]] = []
        self.authorization = ""
        for line in lines:
            name_, _, value = line.partition(":")
            if name_ == "Authorization":
                self.authorization = value.strip()
            else:
                self.headers.append((name_, value))
        assert self.authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")

    def header(self, name: str) -> str:
        return next(v for n, v in self.headers if n.lower() == name.lower())

    def sign(self, token: str | None, headers: list[tuple[str, str]]) -> str:
        signed = sigv4.sign(
            self.method,
            "https://example.amazonaws.com" + self.path,
            headers,
            b"",
            credentials=Credentials(ACCESS_KEY, SECRET_KEY, token),
            region="us-east-1",
            service="service",
            now=SUITE_TIME,
        )
        return {k.lower(): v for k, v in signed}["authorization"]


def test_vendored_vectors_are_all_used() -> None:
    names = {p.stem for p in VECTORS.glob("*.sreq")}
    assert names == {*NORMALISE_PATH, "post-sts-header-before", "post-sts-header-after"}


@pytest.mark.parametrize("name", NORMALISE_PATH)
def test_path_normalisation_vectors(name: str) -> None:
    v = Signed(name)
    assert v.sign(None, v.headers) == v.authorization


def test_relative_paths_sign_like_the_root() -> None:
    # The suite's own claim, checked on the vendored files: these all normalise to "/".
    sigs = {Signed(n).authorization for n in ("get-relative", "get-relative-relative", "get-slash")}
    assert len(sigs) == 1 and sigs == {Signed("get-slash-dot-slash").authorization}


def test_session_token_is_signed_like_post_sts_header_before() -> None:
    v = Signed("post-sts-header-before")
    token = v.header("X-Amz-Security-Token")
    # The token comes from the credentials; a stale header of the same name is replaced, not doubled.
    assert v.sign(token, v.headers) == v.authorization
    without_header = [(n, x) for n, x in v.headers if n.lower() != "x-amz-security-token"]
    assert v.sign(token, without_header) == v.authorization
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in v.authorization


def test_token_is_never_left_unsigned_as_in_post_sts_header_after() -> None:
    after = Signed("post-sts-header-after")
    before = Signed("post-sts-header-before")
    token = after.header("X-Amz-Security-Token")
    unsigned_headers = [(n, x) for n, x in after.headers if n.lower() != "x-amz-security-token"]
    # Without a token the agent reproduces the "after" signature (token appended later, unsigned) ...
    assert after.sign(None, unsigned_headers) == after.authorization
    # ... but with a session token it always signs it (as botocore does), giving the "before" one.
    assert after.sign(token, unsigned_headers) == before.authorization != after.authorization


def test_signed_request_carries_the_token_header() -> None:
    v = Signed("post-sts-header-before")
    token = v.header("X-Amz-Security-Token")
    signed = sigv4.sign(
        "POST",
        "https://example.amazonaws.com/",
        [],
        b"",
        credentials=Credentials(ACCESS_KEY, SECRET_KEY, token),
        region="us-east-1",
        service="service",
        now=SUITE_TIME,
    )
    assert [value for k, value in signed if k.lower() == "x-amz-security-token"] == [token]
