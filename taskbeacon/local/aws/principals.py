"""Credentials local mode hands out, and who each access key stands for.

Operators may call every route; task credentials carry the identity ECS gives a task role session
(``assumed-role/taskbeacon-local-task/<task id>``) and, like a task role granted only
``execute-api:Invoke`` on ``POST /snapshots``, may call nothing else.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TASK_ROLE_NAME = "taskbeacon-local-task"
OPERATOR_NAME = "taskbeacon-local-operator"
COLLECTOR_ROLE_NAME = "taskbeacon-local-collector"
# Both task ARN formats: task/<id> (old) and task/<cluster>/<id>; the id is the role session name.
_TASK_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]{1,32}:(?P<account>[0-9]{12}):task/(?:[A-Za-z0-9_-]{1,255}/)?"
    r"(?P<id>[A-Za-z0-9_-]{1,64})",
    re.ASCII,
)


@dataclass(frozen=True)
class Principal:
    access_key: str
    secret_key: str
    session_token: str | None
    arn: str
    account_id: str
    kind: str  # "operator" | "task" | "collector"

    @property
    def caller(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    def identity(self, source_ip: str) -> dict[str, Any]:
        """``requestContext.identity`` as API Gateway fills it for an IAM-authenticated request."""
        session_id = self.arn.rsplit("/", 1)[-1]
        caller = (
            f"AROALOCAL{self.access_key[-8:]}:{session_id}"
            if self.kind != "operator"
            else f"AIDALOCAL{self.access_key[-8:]}"
        )
        return {
            "accountId": self.account_id,
            "caller": caller,
            "user": caller,
            "userArn": self.arn,
            "accessKey": self.access_key,
            "sourceIp": source_ip,
            "cognitoIdentityPoolId": None,
            "cognitoIdentityId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userAgent": None,
            "principalOrgId": None,
        }


class PrincipalRegistry:
    """Thread-safe map of access key → principal."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._by_key: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def _add(self, principal: Principal) -> Principal:
        with self._lock:
            self._by_key[principal.access_key] = principal
        return principal

    def get(self, access_key: str) -> Principal | None:
        with self._lock:
            return self._by_key.get(access_key)

    def operator(self) -> Principal:
        return self._add(
            Principal(
                access_key="AKIALOCAL" + secrets.token_hex(6).upper(),
                secret_key=secrets.token_urlsafe(30),
                session_token=None,
                arn=f"arn:aws:iam::{self.account_id}:user/{OPERATOR_NAME}",
                account_id=self.account_id,
                kind="operator",
            )
        )

    def collector(self, account_id: str) -> Principal:
        """Credentials of the host-daemon collector role (on the allowlist)."""
        return self._session(account_id, COLLECTOR_ROLE_NAME, "i-0local" + secrets.token_hex(5), "collector")

    def task(self, task_arn: str) -> Principal:
        """Credentials whose identity is the task role session ECS would create for ``task_arn``."""
        match = _TASK_ARN.fullmatch(task_arn)
        if match is None:
            raise ValueError(f"not an ECS task ARN: {task_arn[:300]!r}")
        return self._session(match["account"], TASK_ROLE_NAME, match["id"], "task")

    def _session(self, account_id: str, role: str, session: str, kind: str) -> Principal:
        return self._add(
            Principal(
                access_key="ASIALOCAL" + secrets.token_hex(6).upper(),
                secret_key=secrets.token_urlsafe(30),
                session_token=secrets.token_urlsafe(48),
                arn=f"arn:aws:sts::{account_id}:assumed-role/{role}/{session}",
                account_id=account_id,
                kind=kind,
            )
        )


def container_credentials(principal: Principal, *, hours: int = 6) -> dict[str, str]:
    """The JSON shape of the ECS container credentials endpoint."""
    role_arn = principal.arn.replace(":sts::", ":iam::").replace(":assumed-role/", ":role/").rsplit("/", 1)[0]
    expiration = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "AccessKeyId": principal.access_key,
        "SecretAccessKey": principal.secret_key,
        "Token": principal.session_token or "",
        "Expiration": expiration,
        "RoleArn": role_arn,
    }
