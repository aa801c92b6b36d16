"""Local mode verifies SigV4 like API Gateway: the credential scope must name the API's own region
and ``execute-api``, and the payload hash is the SHA-256 of the body received, whatever
``x-amz-content-sha256`` claims. Requests are signed by botocore (which takes that header's word for
the payload hash, so every refused request here carries a signature botocore considers valid).
Header bytes of every kind never get a 5xx or a dropped connection."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskbeacon.local.aws.principals import PrincipalRegistry
from taskbeacon.local.aws.sigv4 import SignatureError, verify
from taskbeacon.local.system import LocalSystem
from tests.http.characters import CONTROLS, IN_A_FIELD_VALUE, PYTHON_ONLY_WHITESPACE, wire
from tests.hypothesis_profiles import examples, suppressed

pytestmark = pytest.mark.http
FUZZ = settings(
    max_examples=examples(30), suppress_health_check=suppressed(HealthCheck.function_scoped_fixture)
)
REAL_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1", "ca-central-1", "me-south-1",
    "af-south-1", "il-central-1", "mx-central-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1",
)  # fmt: skip


def credentials_body() -> bytes:
    """A request the operator may make that no store change can break: mint task credentials."""
    arn = f"arn:aws:ecs:us-east-1:111122223333:task/demo/{uuid.uuid4().hex}"
    return json.dumps({"taskArn": arn}).encode()


def signed(
    local: LocalSystem,
    operator: dict[str, str],
    *,
    region: str | None = None,
    service: str = "execute-api",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/_local/credentials",
) -> tuple[int, Any]:
    """POST ``body`` signed by botocore with this scope and these extra (signed) headers."""
    url = local.url + path
    data = credentials_body() if body is None else body
    extra = {"Host": urlsplit(url).netloc, **(headers or {})}
    request = AWSRequest(method="POST", url=url, data=data, headers=extra)
    creds = Credentials(operator["AccessKeyId"], operator["SecretAccessKey"])
    SigV4Auth(creds, service, region or local.gateway.region).add_auth(request)
    return raw_post(local, path, dict(request.headers.items()), data)


def raw_post(local: LocalSystem, path: str, headers: dict[str, Any], body: bytes) -> tuple[int, Any]:
    address = urlsplit(local.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)  # str or bytes, sent as given
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()  # raises (failing the test) if the connection drops
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data


def test_the_control_request_is_accepted(local: LocalSystem, operator: dict[str, str]) -> None:
    # Without this, every refusal below could be a refusal of something else.
    status, body = signed(local, operator)
    assert status == 200 and body["AccessKeyId"].startswith("ASIA"), body
    sha = hashlib.sha256(payload := credentials_body()).hexdigest()
    status, body = signed(local, operator, body=payload, headers={"X-Amz-Content-SHA256": sha})
    assert status == 200, body  # the header is fine when it is the body's hash


def assert_invalid_signature(status: int, body: Any, words: str) -> None:
    assert status == 403, body
    assert body["error"]["code"] == "INVALID_SIGNATURE" and body["error"]["field"] is None
    assert words in body["error"]["message"], body


region_like = st.from_regex(r"[a-z]{2}(-[a-z]{2,10}){1,2}-[0-9]{1,2}", fullmatch=True)
not_a_region = st.text(  # printable: a control character makes the whole header malformed (below)
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/,="),
    min_size=1,
    max_size=20,
)


@FUZZ
@given(region=st.one_of(st.sampled_from(REAL_REGIONS), region_like, not_a_region))
def test_scope_naming_another_region_is_refused(
    local: LocalSystem, operator: dict[str, str], region: str
) -> None:
    assume(region != local.gateway.region)
    status, body = signed(local, operator, region=region)
    assert_invalid_signature(status, body, "Credential should be scoped to a valid region")


@pytest.mark.parametrize("variant", ["upper", "space", "no-digit", "prefix", "suffix"])
def test_near_miss_spellings_of_the_local_region_are_refused(
    local: LocalSystem, operator: dict[str, str], variant: str
) -> None:
    own = local.gateway.region
    region = {
        "upper": own.upper(),
        "space": own.replace("-", "_"),
        "no-digit": own.rstrip("0123456789"),
        "prefix": "x" + own,
        "suffix": own + "0",
    }[variant]
    status, body = signed(local, operator, region=region)
    assert_invalid_signature(status, body, "valid region")


@FUZZ
@given(
    service=st.one_of(
        st.sampled_from(
            ["execute-apI", "EXECUTE-API", "execute_api", "apigateway", "execute-api2", "s3", "sts"]
        ),
        st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    )
)
def test_scope_naming_another_service_is_refused(
    local: LocalSystem, operator: dict[str, str], service: str
) -> None:
    assume(service != "execute-api")
    status, body = signed(local, operator, service=service)
    assert_invalid_signature(status, body, "Credential should be scoped to correct service: 'execute-api'")


other_hash = st.binary(max_size=64).map(lambda data: hashlib.sha256(b"other" + data).hexdigest())
claims = st.one_of(
    st.sampled_from(
        [
            "UNSIGNED-PAYLOAD",
            "unsigned-payload",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "",
            "0" * 64,
        ]
    ),
    other_hash,
    st.text(alphabet="0123456789abcdef", min_size=0, max_size=80),
)


@FUZZ
@given(claim=claims, data=st.data())
def test_payload_hash_other_than_the_bodys_is_refused(
    local: LocalSystem, operator: dict[str, str], claim: str, data: st.DataObject
) -> None:
    body = credentials_body()
    assume(claim != hashlib.sha256(body).hexdigest())
    name = data.draw(st.sampled_from(["X-Amz-Content-SHA256", "x-amz-content-sha256"]))
    status, answer = signed(local, operator, body=body, headers={name: claim})
    assert_invalid_signature(status, answer, "x-amz-content-sha256")


def test_uppercase_hex_of_the_true_hash_is_refused(local: LocalSystem, operator: dict[str, str]) -> None:
    # The canonical request carries the hash in lowercase hex; API Gateway computes it so.
    body = credentials_body()
    status, answer = signed(
        local, operator, body=body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest().upper()}
    )
    assert_invalid_signature(status, answer, "x-amz-content-sha256")


def test_unsigned_payload_on_the_snapshot_route_is_refused(
    local: LocalSystem, operator: dict[str, str]
) -> None:
    status, answer = signed(
        local, operator, path="/snapshots", body=b"{}", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    assert_invalid_signature(status, answer, "x-amz-content-sha256")


# -- header encodings: any bytes in the headers the verifier reads ---------------------------------
header_bytes = st.binary(min_size=0, max_size=60).filter(lambda raw: b"\r" not in raw and b"\n" not in raw)
utf8_text = st.text(max_size=30).map(str.encode).filter(lambda raw: b"\r" not in raw and b"\n" not in raw)


@FUZZ
@given(
    name=st.sampled_from(
        ["Authorization", "X-Amz-Date", "Host", "X-Amz-Security-Token", "X-Amz-Content-SHA256"]
    ),
    value=st.one_of(header_bytes, utf8_text),
    mode=st.sampled_from(["replace", "append-to-signed"]),
)
def test_any_bytes_in_signature_headers_get_a_4xx(
    local: LocalSystem, operator: dict[str, str], name: str, value: bytes, mode: str
) -> None:
    body = credentials_body()
    netloc = urlsplit(local.url).netloc
    request = AWSRequest(
        method="POST", url=local.url + "/_local/credentials", data=body, headers={"Host": netloc}
    )
    SigV4Auth(
        Credentials(operator["AccessKeyId"], operator["SecretAccessKey"]), "execute-api", local.gateway.region
    ).add_auth(request)
    headers: dict[str, Any] = dict(request.headers.items())
    present = name in headers  # the operator's long-term keys send no X-Amz-Security-Token
    original = headers.get(name, "")
    headers[name] = value if mode == "replace" else original.encode("latin-1") + value
    status, answer = raw_post(local, "/_local/credentials", headers, body)
    if present and mode == "append-to-signed" and not value.strip(b" \t"):
        assert status == 200, answer  # only trailing whitespace, which HTTP trims: the control
    else:
        assert 400 <= status < 500, answer


# -- whitespace is HTTP's (SP and HTAB), never Python's -------------------------------------------
def operator_headers(
    local: LocalSystem, operator: dict[str, str], extra: dict[str, str] | None = None
) -> dict:
    request = AWSRequest(
        method="POST",
        url=local.url + "/_local/credentials",
        data=(body := credentials_body()),
        headers={"Host": urlsplit(local.url).netloc, **(extra or {})},
    )
    SigV4Auth(
        Credentials(operator["AccessKeyId"], operator["SecretAccessKey"]), "execute-api", local.gateway.region
    ).add_auth(request)
    return {"headers": dict(request.headers.items()), "body": body}


def test_the_class_is_what_python_strips_and_http_does_not() -> None:
    assert len(PYTHON_ONLY_WHITESPACE) == 27 and "\x0b" in IN_A_FIELD_VALUE and "\u3000" in IN_A_FIELD_VALUE
    for char in PYTHON_ONLY_WHITESPACE:
        assert f"x{char}".strip() == "x" and f"a{char}b".split() == ["a", "b"]
        assert char.strip(" \t") == char  # not HTTP's optional whitespace


@pytest.mark.parametrize("char", IN_A_FIELD_VALUE, ids=lambda char: f"U+{ord(char):04X}")
def test_authorization_ending_in_python_only_whitespace_is_403(
    local: LocalSystem, operator: dict[str, str], char: str
) -> None:
    # The reported case (U+000B at the end): str.strip() took it off and the signature verified.
    signed_request = operator_headers(local, operator)
    headers = signed_request["headers"]
    headers["Authorization"] = headers["Authorization"].encode() + wire(char)
    status, answer = raw_post(local, "/_local/credentials", headers, signed_request["body"])
    assert_invalid_signature(status, answer, "Authorization header is not an AWS4-HMAC-SHA256 signature")


@FUZZ
@given(char=st.sampled_from(IN_A_FIELD_VALUE + CONTROLS), data=st.data())
def test_python_only_whitespace_or_a_control_anywhere_in_authorization_is_403(
    local: LocalSystem, operator: dict[str, str], char: str, data: st.DataObject
) -> None:
    signed_request = operator_headers(local, operator)
    headers = signed_request["headers"]
    value = headers["Authorization"].encode()
    separators = [match.start() for match in re.finditer(rb" ", value)]
    where = data.draw(
        st.one_of(
            st.integers(min_value=0, max_value=len(value)).map(lambda at: ("insert", at)),
            st.sampled_from(separators).map(lambda at: ("replace", at)),  # a space between parameters
        )
    )
    kind, at = where
    headers["Authorization"] = value[:at] + wire(char) + value[at + (kind == "replace") :]
    status, answer = raw_post(local, "/_local/credentials", headers, signed_request["body"])
    assert_invalid_signature(status, answer, "Authorization header is not an AWS4-HMAC-SHA256 signature")


@pytest.mark.parametrize("padding", [" ", "\t", " \t ", "\t\t"], ids=["sp", "htab", "mixed", "tabs"])
def test_sp_and_htab_around_authorization_are_trimmed(
    local: LocalSystem, operator: dict[str, str], padding: str
) -> None:
    # The control: HTTP's own optional whitespace, around the value, changes nothing.
    signed_request = operator_headers(local, operator)
    headers = signed_request["headers"]
    headers["Authorization"] = padding + headers["Authorization"] + padding
    status, answer = raw_post(local, "/_local/credentials", headers, signed_request["body"])
    assert status == 200, answer


@FUZZ
@given(char=st.sampled_from(IN_A_FIELD_VALUE), inside=st.booleans())
def test_signed_header_carrying_python_only_whitespace_does_not_verify(
    local: LocalSystem, operator: dict[str, str], char: str, inside: bool
) -> None:
    # botocore's signer folds the character into a space (" ".join(value.split())) and signs that;
    # API Gateway's canonical header keeps it, so the signature does not match.
    value = f"a{char}b" if inside else f"ab{char}"
    signed_request = operator_headers(local, operator, {"X-Probe": value})
    headers = {
        **signed_request["headers"],
        "X-Probe": wire(char).join([b"a", b"b"]) if inside else b"ab" + wire(char),
    }
    status, answer = raw_post(local, "/_local/credentials", headers, signed_request["body"])
    assert_invalid_signature(status, answer, "does not match the signature you provided")


def test_sp_and_htab_inside_a_signed_header_fold_as_botocore_signs_them(
    local: LocalSystem, operator: dict[str, str]
) -> None:
    signed_request = operator_headers(local, operator, {"X-Probe": "a \t  b\tc"})
    status, answer = raw_post(local, "/_local/credentials", signed_request["headers"], signed_request["body"])
    assert status == 200, answer


@pytest.mark.parametrize("char", PYTHON_ONLY_WHITESPACE + CONTROLS, ids=lambda char: f"U+{ord(char):04X}")
def test_verify_itself_refuses_them_in_authorization(char: str) -> None:
    # Also CR and LF, which cannot reach it through HTTP (and "$" in a regular expression
    # matches before a final newline).
    registry = PrincipalRegistry("111122223333")
    operator = registry.operator()
    request = AWSRequest(method="GET", url="http://api.local/tasks", data=b"", headers={"Host": "api.local"})
    SigV4Auth(Credentials(operator.access_key, operator.secret_key), "execute-api", "us-east-1").add_auth(
        request
    )
    headers = dict(request.headers.items())
    assert verify(registry, method="GET", url="http://api.local/tasks", headers=headers, body=b"")
    for changed in (headers["Authorization"] + char, char + headers["Authorization"]):
        with pytest.raises(SignatureError, match="not an AWS4-HMAC-SHA256 signature") as refused:
            verify(
                registry,
                method="GET",
                url="http://api.local/tasks",
                headers={**headers, "Authorization": changed},
                body=b"",
            )
        assert refused.value.response_type == "INVALID_SIGNATURE"
