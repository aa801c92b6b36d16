"""A service in local mode's (moto's) ECS whose sweep finds one task drifted: one task runs the digest
ECS resolved for the service's revision, one a previous build, and optionally a standalone task
(never judged). The CLI's and the console's drift tests seed it this way, each with names of its own
(moto's backends live as long as the test process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

IMAGE = "public.ecr.aws/docker/library/httpd:2.4"
PREVIOUS_BUILD = f"{IMAGE} (previous build)"  # what the drifted task's digest is derived from
CONTAINER = "pay"


@dataclass(frozen=True)
class SeededService:
    in_line: str  # task ARNs
    drifted: str
    standalone: str | None


def seed_drifted_service(
    moto: Any,
    *,
    account: str,
    region: str,
    cluster: str,
    service: str,
    ips: tuple[str, str],
    started: datetime,
    standalone_ip: str | None = None,
) -> SeededService:
    """Runs the tasks in ``moto`` (a ``MotoEcs``) and creates their service from the one in line."""
    from taskbeacon.local.service_revisions import registry_digest
    from taskbeacon.local.sweep import SeedTask

    def seed(ip: str, build: str, service_name: str | None) -> SeedTask:
        return SeedTask(
            account=account,
            region=region,
            cluster=cluster,
            family="pay",
            image=IMAGE,
            launch_type="FARGATE",
            network_mode="awsvpc",
            service=service_name,
            ip=ip,
            started_at=started,
            image_digest=registry_digest(build),
            container=CONTAINER,
        )

    in_line = seed(ips[0], IMAGE, service)
    in_line_arn = moto.run(in_line)
    drifted_arn = moto.run(seed(ips[1], PREVIOUS_BUILD, service))
    standalone_arn = moto.run(seed(standalone_ip, f"{IMAGE} (a one-off)", None)) if standalone_ip else None
    moto.create_service(in_line)
    return SeededService(in_line_arn, drifted_arn, standalone_arn)
