"""What to sweep (accounts x regions) and the fan-out: one asynchronous
invocation of the worker per account-region.

Accounts come from ``SWEEP_ACCOUNTS`` when it is set, otherwise from AWS Organizations
``ListAccounts`` (ACTIVE accounts only; it answers in the management account or a delegated
administrator). Regions come from ``SWEEP_REGIONS``, otherwise the function's own region.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("taskbeacon.sweep")

ASYNC_ACCEPTED = 202  # Invoke's status when Lambda queued an asynchronous invocation
MESSAGE_VERSION = 1
_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", re.ASCII)
STATUSES = ("RUNNING", "STOPPED")  # ListTasks desiredStatus values, in the order swept


class BadMessage(ValueError):
    """An event that is not a sweep unit (never retried: it would fail the same way)."""


@dataclass(frozen=True)
class Target:
    account: str
    region: str

    def __post_init__(self) -> None:
        if not _ACCOUNT.fullmatch(self.account):
            raise ValueError(f"not a 12-digit account id: {self.account!r}")
        if not _REGION.fullmatch(self.region):
            raise ValueError(f"not a region name: {self.region!r}")

    def __str__(self) -> str:
        return f"{self.account}:{self.region}"


def parse_targets(text: str) -> list[Target]:
    """``ACCOUNT:REGION,ACCOUNT:REGION`` (local mode's ``--sweep-targets``); ValueError names the bad one."""
    targets: list[Target] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        account, sep, region = item.partition(":")
        if not sep:
            raise ValueError(f"{item!r} is not ACCOUNT:REGION")
        target = Target(account.strip(), region.strip())
        if target not in targets:
            targets.append(target)
    if not targets:
        raise ValueError("no ACCOUNT:REGION given")
    return targets


@dataclass(frozen=True)
class Resume:
    """Where a unit continues: the cluster (by ARN), the ListTasks status and page token."""

    cluster: str
    status: str
    next_token: str | None = None


@dataclass
class Totals:
    """What a unit did, summed over its parts (one part per invocation)."""

    tasks_seen: int = 0  # tasks described, in the account-region swept
    written: int = 0  # of those, tasks whose record changed (written)
    write_units: int = 0  # DynamoDB write units those writes cost (size-based, x2 in a transaction)
    closed: int = 0  # tasks the inventory held as running that ECS no longer knew
    calls: int = 0  # ECS calls made (every attempt)
    throttled: int = 0  # ECS ThrottlingException answers (retried, never dropped)
    skipped: int = 0  # malformed DescribeTasks entries (logged)
    foreign: int = 0  # entries of another account or region (dropped, logged)
    missing: int = 0  # DescribeTasks failures (task gone between the list and the describe)
    clusters: int = 0
    parts: int = 0  # invocations the unit took

    def add(self, other: Totals) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {_camel(name): int(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: object) -> Totals:
        if not isinstance(data, dict):
            return cls()
        values = {}
        for name in cls.__dataclass_fields__:
            value = data.get(_camel(name), 0)
            values[name] = (
                value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
            )
        return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class Unit:
    """One account-region of one sweep, possibly part-way (``resume``) or in its closing pass."""

    target: Target
    sweep_id: str
    started_at: datetime  # when the unit's first part began
    part: int = 0
    resume: Resume | None = None
    closing: bool = False  # only the listing for closing is left (the unit needed continuations)
    totals: Totals = field(default_factory=Totals)

    def body(self) -> str:
        return json.dumps(
            {
                "v": MESSAGE_VERSION,
                "account": self.target.account,
                "region": self.target.region,
                "sweepId": self.sweep_id,
                "startedAt": self.started_at.astimezone(UTC).isoformat(),
                "part": self.part,
                "resume": None
                if self.resume is None
                else {
                    "cluster": self.resume.cluster,
                    "status": self.resume.status,
                    "nextToken": self.resume.next_token,
                },
                "closing": self.closing,
                "totals": self.totals.as_dict(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> Unit:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as error:
            raise BadMessage(f"not JSON: {error}") from None
        if not isinstance(data, dict) or data.get("v") != MESSAGE_VERSION:
            raise BadMessage("not a sweep unit message (v 1)")
        try:
            target = Target(str(data["account"]), str(data["region"]))
            started = data.get("startedAt")
            started_at = datetime.fromisoformat(started) if isinstance(started, str) else datetime.now(UTC)
            if started_at.tzinfo is None:
                started_at = started_at.replace(tzinfo=UTC)
            resume = data.get("resume")
            parsed_resume = None
            if isinstance(resume, dict):
                status = resume.get("status")
                if status not in STATUSES or not isinstance(resume.get("cluster"), str):
                    raise BadMessage("resume must name a cluster and a status")
                token = resume.get("nextToken")
                parsed_resume = Resume(resume["cluster"], status, token if isinstance(token, str) else None)
            part = data.get("part", 0)
            return cls(
                target=target,
                sweep_id=str(data.get("sweepId") or uuid.uuid4()),
                started_at=started_at,
                part=part if isinstance(part, int) and not isinstance(part, bool) and part >= 0 else 0,
                resume=parsed_resume,
                closing=data.get("closing") is True,
                totals=Totals.from_dict(data.get("totals")),
            )
        except (KeyError, ValueError) as error:
            if isinstance(error, BadMessage):
                raise
            raise BadMessage(f"bad sweep unit: {error}") from None


def list_targets(
    accounts: Iterable[str], regions: Iterable[str], *, organizations: Any | None = None, own_region: str
) -> list[Target]:
    """Every (account, region) to sweep, accounts x regions, in a stable order."""
    chosen = list(accounts) or list(active_accounts(organizations))
    region_list = list(regions) or [own_region]
    return [Target(account, region) for account in sorted(set(chosen)) for region in sorted(set(region_list))]


def active_accounts(organizations: Any) -> Iterator[str]:
    """ACTIVE accounts of the organization (Organizations ``ListAccounts``, every page)."""
    if organizations is None:
        raise ValueError("SWEEP_ACCOUNTS is empty and no Organizations client was given")
    token: str | None = None
    while True:
        page = organizations.list_accounts(**({"NextToken": token} if token else {}))
        for account in page.get("Accounts") or []:
            # ``Status`` (ACTIVE | SUSPENDED | PENDING_CLOSURE); newer answers add ``State``.
            state = account.get("State") or account.get("Status")
            if state == "ACTIVE" and _ACCOUNT.fullmatch(str(account.get("Id", ""))):
                yield str(account["Id"])
        token = page.get("NextToken")
        if not token:
            return


def new_units(targets: Iterable[Target], *, now: datetime | None = None) -> list[Unit]:
    moment = now or datetime.now(UTC)
    sweep_id = f"{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    return [Unit(target=target, sweep_id=sweep_id, started_at=moment) for target in targets]


def invoke_units(lambda_client: Any, function: str, units: list[Unit]) -> int:
    """One asynchronous invocation of the worker per unit (``InvocationType=Event``, the unit's JSON
    body as the payload), in order. Nothing is batched: each unit is its own event, which Lambda
    queues, retries (function errors: twice; throttles: until the event's maximum age) and, when that
    fails, sends to the worker's on-failure destination. An invocation Lambda refuses (after boto3's
    own retries of throttling) raises: the caller's run fails and is retried as a whole."""
    sent = 0
    for unit in units:
        answer = lambda_client.invoke(
            FunctionName=function, InvocationType="Event", Payload=unit.body().encode("utf-8")
        )
        status = answer.get("StatusCode")
        if status != ASYNC_ACCEPTED:
            raise RuntimeError(f"Lambda did not queue the sweep unit {unit.target} (status {status})")
        sent += 1
    return sent
