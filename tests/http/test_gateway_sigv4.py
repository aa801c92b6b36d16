"""Local mode verifies SigV4 like API Gateway: the credential scope must name the API's own region
and ``execute-api``, and the payload hash is the SHA-256 of the body received, whatever
``x-amz-content-sha256`` claims. Requests are signed by botocore (which takes that header's word for
the payload hash, so every refused request here carries a signature botocore considers valid).
Header bytes of every kind never get a 5xx or a dropped connection."""

from __future__ import annotations

import hashlib
import http.client
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskbeacon.local.system import LocalSystem

pytestmark = pytest.mark.http
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
not_a_region = st.text(
    alphabet=st.characters(codec="ascii", exclude_characters="/,= \t\r\n"), min_size=1, max_size=20
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
