"""The snapshot envelope of DESIGN 3.2 (``POST /snapshots``), as the agent sends it.

The raw metadata documents stay opaque JSON objects here; the normalizers read them. Unknown
top-level fields are ignored so that newer agents can talk to older servers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

SnapshotSource = Literal["tmde-v4", "tmde-v3", "tmde-v2", "metadata-file", "introspection"]
Reason = Literal["start", "change", "keepalive", "stop"]

_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,  # no non-ASCII digits
)


def parse_rfc3339(value: str) -> datetime | None:
    """RFC 3339 with 0-9 fractional digits and ``Z`` or an offset, returned in UTC.

    ECS trims trailing zeros of nanoseconds, so the digit count varies; digits past microseconds
    are truncated (Python's resolution). Go's zero time (year 1, ``0001-01-01T00:00:00Z``) means
    "not set" and returns ``None``. Raises ``ValueError`` for anything else.
    """
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ValueError("is not an RFC 3339 timestamp with a time zone")
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = match.groups()
    if year == "0001":
        return None
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    try:
        tz = UTC
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("is not a valid date and time") from None


def _collected_at(value: object) -> datetime:
    # Not pydantic's datetime parsing: that takes epoch numbers and naive times, and at most
    # 6 fractional digits.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string")  # pydantic turns ValueError into a located error
    parsed = parse_rfc3339(value)
    if parsed is None:
        raise ValueError("must not be the zero time")
    return parsed


def _schema_version(value: object) -> int:
    if type(value) is not int or value != 1:  # bool is an int subclass; True is not version 1
        raise ValueError("must be 1")
    return value


_Text = Annotated[str, Field(min_length=1, max_length=256)]


class AgentInfo(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)

    version: _Text
    mode: _Text
    instance_id: _Text = Field(alias="instanceId")


class Envelope(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)

    schema_version: Annotated[int, BeforeValidator(_schema_version)] = Field(
        alias="schemaVersion", json_schema_extra={"const": 1}
    )
    source: SnapshotSource
    collected_at: Annotated[datetime, BeforeValidator(_collected_at)] = Field(
        alias="collectedAt",
        description="RFC 3339 with 0-9 fractional digits and a zone; at most 15 minutes ahead of the server",
    )
    sequence: int = Field(ge=0, le=2**63 - 1)  # stored as a DynamoDB number; int64 keeps it exact
    reason: Reason
    agent: AgentInfo
    task: dict[str, Any] | None = None
    # introspection: every task on the host; tmde-v4 may use it for ``/tasks`` (Managed Instances daemons)
    tasks: list[Any] | None = None
    container: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None  # accepted, not interpreted: ``{}`` and ``null`` are fine

    @model_validator(mode="after")
    def _task_or_tasks(self) -> Envelope:
        # ctx.field names the missing key: a model-level error has no location of its own.
        if self.source == "introspection" and self.tasks is None:
            raise PydanticCustomError("missing", "introspection snapshots carry 'tasks'", {"field": "tasks"})
        if self.source != "introspection" and self.task is None and self.tasks is None:
            raise PydanticCustomError("missing", "'task' is required", {"field": "task"})
        return self
