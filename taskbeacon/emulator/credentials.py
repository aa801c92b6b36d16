"""Credentials the emulator hands out: fake by default, a caller's provider, or a named profile."""

from __future__ import annotations

import datetime
import secrets
import sys
from collections.abc import Callable
from typing import Any

CredentialsProvider = Callable[[str], dict[str, Any]]

PROFILE_WARNING = (
    "WARNING: serving real AWS credentials from profile {name!r} to anything that can reach the emulator. "
    "Never use production credentials here; prefer a sandbox account with a narrowly scoped role."
)


def _expiration(hours: float = 6) -> str:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiration(value: object) -> datetime.datetime | None:
    """``Expiration`` as a UTC datetime; None when absent or unreadable (credentials that never rotate)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=datetime.UTC) if when.tzinfo is None else when.astimezone(datetime.UTC)


def fake_credentials(task_arn: str) -> dict[str, Any]:
    """Obviously fake, well-formed credentials (they sign fine; AWS rejects them)."""
    account = task_arn.split(":")[4] if task_arn.count(":") >= 5 else "111122223333"
    return {
        "RoleArn": f"arn:aws:iam::{account}:role/taskbeacon-emulated-task",
        "AccessKeyId": "ASIAEMULATED" + secrets.token_hex(4).upper(),
        "SecretAccessKey": secrets.token_urlsafe(30),
        "Token": "emulated-" + secrets.token_urlsafe(48),
        "Expiration": _expiration(),
    }


def profile_provider(profile: str, warn: Callable[[str], Any] | None = None) -> CredentialsProvider:
    """Real credentials from a named profile (botocore imported only here). Prints a warning once."""
    import botocore.session

    (warn or (lambda msg: print(msg, file=sys.stderr)))(PROFILE_WARNING.format(name=profile))
    session = botocore.session.Session(profile=profile)

    def provide(task_arn: str) -> dict[str, Any]:
        creds = session.get_credentials()
        if creds is None:
            raise RuntimeError(f"profile {profile!r} has no credentials")
        frozen = creds.get_frozen_credentials()
        expiry = getattr(creds, "_expiry_time", None)
        return {
            "RoleArn": f"arn:aws:iam::000000000000:role/profile-{profile}",
            "AccessKeyId": frozen.access_key,
            "SecretAccessKey": frozen.secret_key,
            "Token": frozen.token or "",
            "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else _expiration(1),
        }

    return provide
