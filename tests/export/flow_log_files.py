"""VPC Flow Logs records written as a flow log delivers them to S3 in plain text, into a folder.

Layout (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3.html), under the LOCATION of
the committed table (``<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/``): one folder per UTC day
``<yyyy>/<MM>/<dd>/``, files ``<account>_vpcflowlogs_<region>_<flow log id>_<yyyyMMddTHHmmZ>_<hash>.log.gz``,
gzip, a header line naming the fields of the log format, then one record per line, fields separated
by one space, ``-`` for a field that does not apply.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.export.athena_local import text

ACCOUNT = "111122223333"
REGION = "us-east-1"
DELIVERY_SECONDS = 300


def log_format(ddl: str) -> list[str]:
    """The flow log's fields, in order, as the committed DDL's comment states the format."""
    for line in text(ddl).splitlines():
        fields = re.findall(r"\$\{([a-z0-9-]+)\}", line)
        if len(fields) > 1:
            return fields
    raise AssertionError(f"{ddl} states no log format")


@dataclass(frozen=True)
class Flow:
    """One record; ``start``/``end`` are epoch seconds, ``extra`` the fields past version 2."""

    srcaddr: str
    dstaddr: str
    start: int
    end: int
    interface_id: str = "eni-0a1b2c3d4e5f60001"
    srcport: int = 44321
    dstport: int = 443
    protocol: int = 6
    packets: int = 10
    bytes: int = 840
    action: str = "ACCEPT"
    log_status: str = "OK"
    extra: Mapping[str, str] | None = None

    def fields(self) -> dict[str, str]:
        values = {
            "version": "2",
            "account-id": ACCOUNT,
            "interface-id": self.interface_id,
            "srcaddr": self.srcaddr,
            "dstaddr": self.dstaddr,
            "srcport": str(self.srcport),
            "dstport": str(self.dstport),
            "protocol": str(self.protocol),
            "packets": str(self.packets),
            "bytes": str(self.bytes),
            "start": str(self.start),
            "end": str(self.end),
            "action": self.action,
            "log-status": self.log_status,
        }
        return {**values, **(self.extra or {})}


def no_data(start: int, end: int) -> Flow:
    """A NODATA record: no traffic on the interface in the window, every flow field '-'."""
    return Flow(srcaddr="-", dstaddr="-", start=start, end=end, action="-", log_status="NODATA", extra={})


def _line(flow: Flow, fields: Sequence[str], version: str) -> str:
    values = {**flow.fields(), "version": version}
    if flow.log_status == "NODATA":
        values.update(dict.fromkeys(("srcport", "dstport", "protocol", "packets", "bytes"), "-"))
    return " ".join(values.get(field, "-") for field in fields)


def write_flow_logs(
    flows: Sequence[Flow], root: Path, *, fields: Sequence[str], flow_log_id: str = "fl-0123456789abcdef0"
) -> Path:
    """Records into ``root`` as the flow log writes them (two files a day); the LOCATION folder."""
    location = root / "AWSLogs" / ACCOUNT / "vpcflowlogs" / REGION
    # The record's version is the highest version of the fields in the format.
    version = "7" if any(field.startswith("ecs-") for field in fields) else "2"
    by_file: dict[tuple[str, int], list[Flow]] = {}
    for number, flow in enumerate(sorted(flows, key=lambda f: (f.start, f.srcaddr, f.dstaddr))):
        # The folder is the day of delivery, about 5 minutes after the record's window closes.
        day = datetime.fromtimestamp(flow.end + DELIVERY_SECONDS, UTC).strftime("%Y/%m/%d")
        by_file.setdefault((day, number % 2), []).append(flow)
    for (day, part), chunk in sorted(by_file.items()):
        folder = location / day
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(chunk[0].end + DELIVERY_SECONDS, UTC).strftime("%Y%m%dT%H%MZ")
        token = hashlib.sha256(f"{day}/{part}".encode()).hexdigest()[:8]
        body = " ".join(fields) + "\n" + "".join(_line(flow, fields, version) + "\n" for flow in chunk)
        name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{flow_log_id}_{stamp}_{token}.log.gz"
        (folder / name).write_bytes(gzip.compress(body.encode(), mtime=0))
    return location
