"""Small builders of normalized observations for store tests (the normalizers have their own tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.model import Container, Network, Observation, Task

ACCOUNT = "111122223333"
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def task(
    number: int,
    *,
    status: str | None = "RUNNING",
    cluster: str = "prod",
    image: str = "nginx:1.27",
    ip: str | None = "10.0.0.5",
    digest: str | None = None,
    exit_code: int | None = None,
    stopped_reason: str | None = None,
    labels: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    launch_type: str = "FARGATE",
) -> Task:
    task_id = f"{number:032x}"
    networks = [Network(network_mode="awsvpc", ipv4_addresses=[ip])] if ip else []
    return Task(
        task_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/{task_id}",
        task_id=task_id,
        account_id=ACCOUNT,
        region="us-east-1",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}",
        cluster_name=cluster,
        family="web",
        revision="3",
        service_name="web",
        launch_type=launch_type,
        availability_zone="us-east-1a",
        last_status=status,
        stopped_reason=stopped_reason,
        tags=tags or {},
        containers=[
            Container(
                name="app",
                image=image,
                image_digest=digest,
                exit_code=exit_code,
                labels=labels or {},
                networks=networks,
            )
        ],
    )


def snapshot(
    t: Task, *, second: int, sequence: int = 0, reporter: str = "agent-1", reason: str | None = None
) -> Observation:
    return Observation(
        task=t,
        source="tmde-v4",
        observed_at=T0 + timedelta(seconds=second),
        sequence=sequence,
        reporter=reporter,
        reason=reason,
    )


def event(t: Task, *, version: int, second: int = 0) -> Observation:
    return Observation(
        task=t,
        source="event",
        observed_at=T0 + timedelta(seconds=second),
        event_version=version,
        reporter="eventbridge",
    )
