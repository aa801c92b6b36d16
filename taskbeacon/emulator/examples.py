"""Built-in example tasks, modelled on the shared fixtures (with our own consistent identifiers)."""

from __future__ import annotations

from typing import Any

from taskbeacon.emulator.docs import make_task_doc

ACCOUNT = "111122223333"
REGION = "us-west-2"


def example(name: str) -> dict[str, Any]:
    """{"task": v4 task doc, "tags": TaskTags, "containerInstanceTags": {...}|None}."""
    if name == "ec2-bridge":
        task = make_task_doc(
            "default",
            "EC2",
            ACCOUNT,
            REGION,
            "web-bridge",
            service="web",
            network_mode="bridge",
            revision=7,
            cpu=None,
            memory=None,
            containers=[
                {"name": "nginx", "image": "public.ecr.aws/nginx/nginx:1.27", "port": 80},
                {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1.4.2", "port": 8080},
                {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
            ],
            seed="example/ec2-bridge",
        )
        tags = {"team": "web", "aws:ecs:clusterName": "default", "aws:ecs:serviceName": "web"}
        return {"task": task, "tags": tags, "containerInstanceTags": {"env": "demo", "Name": "ecs-demo-host"}}
    if name == "ec2-awsvpc":
        task = make_task_doc(
            "default",
            "EC2",
            ACCOUNT,
            REGION,
            "curltest",
            service="MyService",
            ip="10.0.2.61",
            revision=26,
            containers=[
                {"name": "curl", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/curltest:latest"}
            ],
            seed="example/ec2-awsvpc",
        )
        return {
            "task": task,
            "tags": {"tag_use": "task_metadata"},
            "containerInstanceTags": {"tag_key": "test"},
        }
    if name == "fargate":
        task = make_task_doc(
            "default",
            "FARGATE",
            ACCOUNT,
            REGION,
            "curltest",
            ip="192.0.2.3",
            revision=3,
            cpu=0.25,
            memory=512,
            containers=[{"name": "curl", "image": "mreferre/eksutils"}],
            seed="example/fargate",
        )
        return {"task": task, "tags": {"team": "platform"}, "containerInstanceTags": None}
    raise KeyError(name)


EXAMPLES = ("ec2-bridge", "ec2-awsvpc", "fargate")
