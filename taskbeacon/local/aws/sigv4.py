"""SigV4 verification for the local gateway, built from botocore's own signer.

API Gateway checks the signature before any Lambda runs; local mode does the same, with the
signature recomputed over exactly the headers the client listed in ``SignedHeaders``, over the
body it received, for the API's own region and the ``execute-api`` service.

What API Gateway answers (403, gateway response type INVALID_SIGNATURE unless noted), as found
in AWS's SigV4 troubleshooting guide (docs.aws.amazon.com/IAM/latest/UserGuide/
signature-v4-troubleshooting.html) and in clients' reports of API Gateway answers:

- scope naming another service: "Credential should be scoped to correct service: 'execute-api'. "
  (x-amzn-ErrorType InvalidSignatureException; ex-aws/ex_aws#701, aws/aws-sdk-js-v3#1831);
- scope naming another region, or none that exists: "Credential should be scoped to a valid
  region, not '<region>'. " (aws/aws-sdk-js#792, answered by an execute-api endpoint);
- ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` or a hash of another body: API Gateway hashes the
  body it received into the canonical request, so the signature does not match (an unsigned
  payload to execute-api fails so: aws/aws-sdk-js-v3#308). Local mode says why in the message.

Whitespace is HTTP's, not Python's: only SP and HTAB are optional whitespace in a field value (RFC
9110 5.6.3), so only they are trimmed (here and in the canonical headers). ``str.strip()`` and
``str.split()`` without arguments (and so botocore's canonical header values) would also take
VT, FF, U+001C-U+001F, U+0085, U+00A0 and the rest of Unicode's whitespace: an ``Authorization``
header holding any character outside printable ASCII, SP and HTAB is malformed (403).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from taskbeacon.local.aws.principals import Principal, PrincipalRegistry

# HTTP's optional whitespace (RFC 9110 5.6.3): SP and HTAB, nothing else.
OWS = " \t"
# What an Authorization value may hold at all: printable ASCII, SP and HTAB (no CTL, no obs-text).
_PRINTABLE = re.compile(r"[\t\x20-\x7e]*", re.ASCII)
_HEADER_NAME = r"[a-z0-9!#$%&'*+.^_`|~-]+"  # a lowercase token (RFC 9110 5.6.2), as SigV4 lists names
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256[ \t]+Credential=(?P<key>[^/, \t]+)/(?P<date>[0-9]{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,[ \t]*"
    rf"SignedHeaders=(?P<signed>{_HEADER_NAME}(?:;{_HEADER_NAME})*),[ \t]*"
    r"Signature=(?P<signature>[0-9a-f]{64})",
    re.ASCII,
)
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
_OWS_RUN = re.compile(r"[ \t]+")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
MAX_CLOCK_SKEW = timedelta(minutes=15)


class SignatureError(Exception):
    """The request is not signed, or not signed correctly: API Gateway answers 403.

    ``response_type`` is API Gateway's gateway-response type for it ($context.error.responseType).
    """

    def __init__(self, message: str, response_type: str = "INVALID_SIGNATURE") -> None:
        super().__init__(message)
        self.response_type = response_type


@dataclass(frozen=True)
class VerifiedRequest:
    principal: Principal
    region: str


def verify(
    registry: PrincipalRegistry,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime | None = None,
    region: str | None = None,
) -> VerifiedRequest:
    """Verify like API Gateway in ``region`` (any region when None), or raise ``SignatureError``."""
    try:
        return _verify(registry, method, url, headers, body, now, region)
    except SignatureError:
        raise
    except (ValueError, UnicodeError) as error:  # e.g. a Host header no URL can carry
        raise SignatureError(f"{SIGNATURE_MISMATCH} ({type(error).__name__})") from None


def _verify(
    registry: PrincipalRegistry,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime | None,
    region: str | None,
) -> VerifiedRequest:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization")
    if not authorization:
        raise SignatureError("Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN")
    authorization = authorization.strip(OWS)
    if not _PRINTABLE.fullmatch(authorization):
        odd = next(char for char in authorization if not _PRINTABLE.fullmatch(char))
        raise SignatureError(
            "Authorization header is not an AWS4-HMAC-SHA256 signature "
            f"(it holds U+{ord(odd):04X}, which HTTP does not allow there)"
        )
    match = _AUTHORIZATION.fullmatch(authorization)
    if not match:
        raise SignatureError("Authorization header is not an AWS4-HMAC-SHA256 signature")
    if match["service"] != "execute-api":
        raise SignatureError("Credential should be scoped to correct service: 'execute-api'. ")
    if region is not None and match["region"] != region:
        raise SignatureError(f"Credential should be scoped to a valid region, not {match['region']!r}. ")
    principal = registry.get(match["key"])
    if principal is None:
        raise SignatureError("The security token included in the request is invalid.")
    amz_date = _signing_time(lowered.get("x-amz-date", ""), match["date"], now)
    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise SignatureError("the host header must be signed")
    if lowered.get("x-amz-security-token") != principal.session_token:  # None == None: long-term keys
        raise SignatureError("The security token included in the request is invalid.")
    signed_headers = {name: lowered[name] for name in signed_names if name in lowered}
    if len(signed_headers) != len(signed_names):
        raise SignatureError("a header listed in SignedHeaders is missing")

    _check_payload_hash(lowered.get("x-amz-content-sha256"), body)

    request = AWSRequest(method=method, url=url, data=body, headers=signed_headers)
    request.context["timestamp"] = amz_date
    signer = _signer_class()(
        Credentials(principal.access_key, principal.secret_key, principal.session_token),
        "execute-api",
        match["region"],
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return VerifiedRequest(principal=principal, region=match["region"])


def _signing_time(amz_date: str, scope_date: str, now: datetime | None) -> str:
    if not _AMZ_DATE.fullmatch(amz_date):  # strptime takes other scripts' digits (\d is Unicode)
        raise SignatureError("X-Amz-Date header is missing or malformed")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise SignatureError("X-Amz-Date header is missing or malformed") from error
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("Signature expired: request time is more than 15 minutes from the server time")
    if not amz_date.startswith(scope_date):
        raise SignatureError("Credential date does not match X-Amz-Date")
    return amz_date


def _check_payload_hash(claimed: str | None, body: bytes) -> None:
    """botocore's signer takes the header's word for the payload hash; API Gateway does not."""
    if claimed is None or claimed == hashlib.sha256(body).hexdigest():
        return
    what = "an unsigned payload" if claimed.upper().startswith(("UNSIGNED", "STREAMING")) else "a hash"
    raise SignatureError(
        f"{SIGNATURE_MISMATCH} (x-amz-content-sha256 names {what} other than the SHA-256 of the "
        "body received; API Gateway signs the body it received)"
    )


@functools.cache
def _signer_class() -> type[Any]:
    from botocore.auth import SigV4Auth

    class HttpWhitespaceSigV4(SigV4Auth):
        """SigV4 with Trimall over HTTP's whitespace only.

        botocore trims and folds a header value with ``" ".join(value.split())``, which also folds
        VT, U+001C or U+00A0: a value carrying one would verify against a signature over a space.
        Here only runs of SP and HTAB fold, so it does not.
        """

        def _header_value(self, value: str) -> str:
            return _OWS_RUN.sub(" ", value.strip(OWS))

    return HttpWhitespaceSigV4
