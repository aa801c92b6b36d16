"""Request framing at local mode's real gateway, over raw sockets: every class of bad
``Content-Length`` (and chunked framing) is answered 400 at once, then the connection is closed
cleanly (the answer is readable, never a reset); a body shorter than announced is answered 400 when
the client half-closes, or after the gateway's body timeout, never waited for forever."""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskbeacon.local.aws.gateway import MAX_REQUEST_BYTES
from taskbeacon.local.system import LocalSystem
from tests.http.characters import CONTROLS, IN_A_FIELD_VALUE, PYTHON_ONLY_WHITESPACE, wire
from tests.hypothesis_profiles import examples, suppressed

pytestmark = pytest.mark.http
CLIENT_TIMEOUT = 10.0  # far beyond any answer given "at once", far below a hang
FUZZ = settings(
    max_examples=examples(40), suppress_health_check=suppressed(HealthCheck.function_scoped_fixture)
)
PATH = "/_local/credentials"  # a local route: framing is judged before any signature or handler


@dataclass
class Answer:
    status: int
    body: Any
    closed: bool  # the server closed the connection after answering


@pytest.fixture
def patient(local: LocalSystem) -> Iterator[LocalSystem]:
    """The gateway waits 60 s for announced bodies: an answer within CLIENT_TIMEOUT was not a wait."""
    saved = getattr(local.gateway, "body_timeout", None)
    local.gateway.body_timeout = 60.0
    yield local
    local.gateway.body_timeout = saved


@pytest.fixture
def impatient(local: LocalSystem) -> Iterator[LocalSystem]:
    saved = getattr(local.gateway, "body_timeout", None)
    local.gateway.body_timeout = 0.3
    yield local
    local.gateway.body_timeout = saved


def exchange(
    local: LocalSystem,
    head: list[bytes],
    body: bytes = b"",
    *,
    half_close: bool = False,
    request_line: bytes = f"POST {PATH} HTTP/1.1".encode(),
) -> Answer:
    """Send a request line + ``head`` header lines + ``body`` as raw bytes, and read one answer."""
    address = urlsplit(local.url)
    with socket.create_connection((address.hostname, address.port), timeout=CLIENT_TIMEOUT) as sock:
        lines = [request_line, f"Host: {address.netloc}".encode(), *head]
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()  # raises (failing the test) on a reset or a hang past CLIENT_TIMEOUT
        data = response.read()
        closed = response.will_close or _at_eof(sock)
    try:
        document: Any = json.loads(data)
    except ValueError:
        document = data.decode("latin-1")
    return Answer(response.status, document, closed)


def _at_eof(sock: socket.socket) -> bool:
    sock.settimeout(0.1)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False  # still open, as a kept-alive connection is


def assert_framing_refused(answer: Answer, field: str = "Content-Length") -> None:
    assert answer.status == 400, answer
    if isinstance(answer.body, dict):  # the gateway's own JSON (http.server answers malformed heads)
        assert answer.body["error"]["field"] == field, answer.body
    assert answer.closed  # the stream cannot be trusted past a bad frame


# -- classes of Content-Length values that are not a number of bytes --------------------------------
negative = st.integers(max_value=-1).map(lambda n: str(n).encode())
signed_or_decorated = st.integers(min_value=0, max_value=10**6).flatmap(
    lambda n: st.sampled_from(
        [f"+{n}", f"{n}.0", f"{n}e0", hex(n), f"{n} {n}", f"{n}_0", f"{n}b", f"({n})", f"{n};q=1"]
    ).map(str.encode)
)
unicode_digits = st.integers(min_value=1, max_value=999).flatmap(
    # digits of other scripts (Arabic-Indic, Devanagari, fullwidth), which int() would accept
    lambda n: st.sampled_from([0x0660, 0x0966, 0xFF10]).map(
        lambda zero: "".join(chr(zero + int(d)) for d in str(n)).encode()
    )
)
arbitrary_bytes = st.binary(min_size=1, max_size=24).filter(
    lambda raw: (
        b"\r" not in raw
        and b"\n" not in raw
        and raw.strip(b" \t")
        and not re.fullmatch(rb"[ \t]*[0-9]+[ \t]*(,[ \t]*[0-9]+[ \t]*)*", raw)
    )
)


@FUZZ
@given(value=st.one_of(negative, signed_or_decorated, unicode_digits, arbitrary_bytes))
def test_content_length_that_is_not_a_number_is_400_at_once(patient: LocalSystem, value: bytes) -> None:
    answer = exchange(patient, [b"Content-Length: " + value], b"{}")
    assert_framing_refused(answer)


@FUZZ
@given(lengths=st.lists(st.integers(min_value=0, max_value=4096), min_size=2, max_size=4, unique=True))
@pytest.mark.parametrize("form", ["repeated-header", "comma-list"])
def test_conflicting_content_lengths_are_400_at_once(
    patient: LocalSystem, form: str, lengths: list[int]
) -> None:
    if form == "repeated-header":
        head = [f"Content-Length: {n}".encode() for n in lengths]
    else:
        head = [("Content-Length: " + ", ".join(map(str, lengths))).encode()]
    assert_framing_refused(exchange(patient, head, b"x" * max(lengths)))


@FUZZ
@given(length=st.integers(min_value=0, max_value=4096), copies=st.integers(min_value=2, max_value=3))
def test_agreeing_repeated_content_lengths_are_one_length(
    patient: LocalSystem, length: int, copies: int
) -> None:
    # RFC 9112 6.3 lets a recipient take identical repeated values as one: the request is then
    # framed correctly and reaches the signature check (403: it is unsigned), not a framing 400.
    head = [f"Content-Length: {length}".encode()] * copies
    answer = exchange(patient, head, b"x" * length)
    assert answer.status == 403 and answer.body["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"


@FUZZ
@given(extra=st.integers(min_value=1, max_value=10**40))
def test_content_length_beyond_the_limit_is_413_at_once(patient: LocalSystem, extra: int) -> None:
    value = str(MAX_REQUEST_BYTES + extra).encode()
    for zeros in (b"", b"000"):  # leading zeros change nothing
        answer = exchange(patient, [b"Content-Length: " + zeros + value], b"{}")
        assert answer.status == 413 and answer.body["error"]["code"] == "REQUEST_TOO_LARGE"
        assert answer.closed


@FUZZ
@given(announced=st.integers(min_value=1, max_value=MAX_REQUEST_BYTES), data=st.data())
def test_body_shorter_than_announced_is_400_when_the_client_half_closes(
    patient: LocalSystem, announced: int, data: st.DataObject
) -> None:
    sent = data.draw(st.integers(min_value=0, max_value=min(announced - 1, 2048)))
    answer = exchange(patient, [f"Content-Length: {announced}".encode()], b"{" * sent, half_close=True)
    assert_framing_refused(answer)
    assert f"after {sent} of the {announced} bytes" in answer.body["error"]["message"]


@settings(max_examples=examples(4), suppress_health_check=suppressed(HealthCheck.function_scoped_fixture))
@given(announced=st.integers(min_value=1, max_value=10**6), data=st.data())
def test_body_shorter_than_announced_is_400_after_the_body_timeout(
    impatient: LocalSystem, announced: int, data: st.DataObject
) -> None:
    # The client keeps its side open and sends nothing more: the gateway stops waiting.
    sent = data.draw(st.integers(min_value=0, max_value=min(announced - 1, 512)))
    answer = exchange(impatient, [f"Content-Length: {announced}".encode()], b"[" * sent)
    assert_framing_refused(answer)
    assert "did not arrive within 0.3 s" in answer.body["error"]["message"]


@pytest.mark.parametrize(
    "head",
    [
        [b"Content-Length: 2", b"Transfer-Encoding: chunked"],  # request smuggling's classic
        [b"Transfer-Encoding: gzip"],
        [b"Transfer-Encoding: chunked, gzip"],
        [b"Transfer-Encoding: identity"],
    ],
    ids=["both", "gzip", "chunked-then-gzip", "identity"],
)
def test_untrustworthy_transfer_encodings_are_400(patient: LocalSystem, head: list[bytes]) -> None:
    assert_framing_refused(exchange(patient, head, b"2\r\n{}\r\n0\r\n\r\n"))


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, rest = b"", body
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    if rest:
        out += f"{len(rest):X}\r\n".encode() + rest + b"\r\n"
    return out + b"0\r\n\r\n"


@FUZZ
@given(body=st.binary(max_size=300), sizes=st.lists(st.integers(min_value=1, max_value=64), max_size=6))
def test_well_formed_chunked_bodies_are_read_whole(
    patient: LocalSystem, body: bytes, sizes: list[int]
) -> None:
    # Correctly framed, so the request reaches the signature check (unsigned: 403).
    answer = exchange(patient, [b"Transfer-Encoding: chunked"], _chunked(body, sizes))
    assert answer.status == 403 and answer.body["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"


broken_chunks = st.one_of(
    st.just(b"zz\r\n{}\r\n0\r\n\r\n"),  # size not hex
    st.just(b"-2\r\n{}\r\n0\r\n\r\n"),
    st.integers(min_value=3, max_value=4000).map(lambda n: f"{n:x}\r\n{{}}\r\n0\r\n\r\n".encode()),  # short
    st.just(b"2\r\n{}XX0\r\n\r\n"),  # no CRLF after the data
    st.just(b"2\r\n{}\r\n"),  # no last chunk
    st.just(b"123456789\r\n"),  # size line beyond 8 hex digits
)


@FUZZ
@given(body=broken_chunks)
def test_broken_chunked_bodies_are_400(patient: LocalSystem, body: bytes) -> None:
    assert_framing_refused(exchange(patient, [b"Transfer-Encoding: chunked"], body, half_close=True))


def test_a_framing_refusal_leaves_the_gateway_serving(local: LocalSystem) -> None:
    # The refused connection is closed; a new one is served as usual.
    assert exchange(local, [b"Content-Length: -1"]).status == 400
    answer = exchange(local, [b"Content-Length: 2"], b"{}")
    assert answer.status == 403 and not answer.closed


# -- whitespace is HTTP's: in framing headers and in the request line ----------------------------
@pytest.mark.parametrize("char", IN_A_FIELD_VALUE + CONTROLS, ids=lambda char: f"U+{ord(char):04X}")
def test_content_length_or_chunk_size_padded_with_python_only_whitespace_is_400(
    patient: LocalSystem, char: str
) -> None:
    # int(" 2\x0b".strip()) is 2: HTTP trims SP and HTAB only.
    for padded in (b"2" + wire(char), wire(char) + b"2"):
        assert_framing_refused(exchange(patient, [b"Content-Length: " + padded], b"{}"))
    head = [b"Transfer-Encoding: chunked" + wire(char)]
    assert_framing_refused(exchange(patient, head, b"2\r\n{}\r\n0\r\n\r\n"))
    size_line = b"2" + wire(char) + b"\r\n{}\r\n0\r\n\r\n"
    assert_framing_refused(exchange(patient, [b"Transfer-Encoding: chunked"], size_line, half_close=True))


def test_sp_and_htab_around_framing_values_are_trimmed(patient: LocalSystem) -> None:
    # The control: correctly framed, so the request reaches the signature check (unsigned: 403).
    for head, body in (
        ([b"Content-Length: \t2 \t"], b"{}"),
        ([b"Transfer-Encoding:  chunked\t"], b"2 \t\r\n{}\r\n0\r\n\r\n"),
        ([b"Transfer-Encoding: chunked"], b"2 ;ext=1\r\n{}\r\n0\r\n\r\n"),
    ):
        answer = exchange(patient, head, body)
        assert answer.status == 403 and answer.body["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN", head


SEPARATORS = ("\t", "  ", *PYTHON_ONLY_WHITESPACE, *CONTROLS)  # all but exactly one SP


@pytest.mark.parametrize("gap", [0, 1], ids=["after-method", "after-target"])
@pytest.mark.parametrize("separator", SEPARATORS, ids=lambda sep: "+".join(f"U+{ord(c):04X}" for c in sep))
def test_request_line_parts_apart_by_anything_but_one_space_are_400(
    local: LocalSystem, separator: str, gap: int
) -> None:
    # str.split() would read "GET\x0b/summary HTTP/1.1" as GET /summary; RFC 9112 3 has one SP.
    parts = [b"GET", b"/summary?by=cluster", b"HTTP/1.1"]
    glue = [b" ", b" "]
    glue[gap] = b"".join(wire(char) for char in separator)
    line = parts[0] + glue[0] + parts[1] + glue[1] + parts[2]
    answer = exchange(local, [], request_line=line)
    assert_framing_refused(answer, field="requestLine")


@pytest.mark.parametrize("char", (*PYTHON_ONLY_WHITESPACE, "\t", " "), ids=lambda char: f"U+{ord(char):04X}")
def test_request_line_with_whitespace_around_it_is_400(local: LocalSystem, char: str) -> None:
    for line in (b"GET /summary HTTP/1.1" + wire(char), wire(char) + b"GET /summary HTTP/1.1"):
        if line.endswith((b"\n", b"\r")) or line.startswith((b"\n", b"\r")):
            continue  # a line ending, not a character of the request line
        assert_framing_refused(exchange(local, [], request_line=line), field="requestLine")
