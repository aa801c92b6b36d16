"""A recording ECS for the sweep's tests: an organization of accounts and regions, answered in AWS's shapes.

- ``SimClock``: simulated time; ``sleep`` advances it, nothing ever waits.
- ``FakeOrg``: clusters and tasks per (account, region). Task documents are built from the recorded
  ``DescribeTasks`` answers in ``tests/fixtures/ecs-api`` (new ids, addresses and digests per task)
  and handed to the sweep exactly as boto3 would: through botocore's own response parser for the
  operation, so timestamps are ``datetime`` objects and every field has botocore's type.
- ``StubEcs``: the client of one account-region. It counts calls per account-region and per API,
  notes the simulated moment of each, and can answer ``ThrottlingException`` on demand.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ecs-api"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


@cache
def _operation(name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ecs").operation_model(name)


def as_boto3(operation: str, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an answer as AWS documents it) as boto3 returns it: botocore's JSON parser."""
    from botocore.parsers import create_parser

    model = _operation(operation)
    body = json.dumps(document).encode()
    parsed: dict[str, Any] = create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200}, model.output_shape
    )
    return parsed


def throttling(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.start = start
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


def _hex(seed: str, length: int = 32) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def ecs_task(
    template: dict[str, Any],
    *,
    account: str,
    region: str,
    cluster: str,
    seed: str,
    service: str | None = None,
    desired: str = "RUNNING",
    version: int = 3,
    tags: dict[str, str] | None = None,
    started: datetime | None = None,
) -> dict[str, Any]:
    """A task document in the shape of ``template`` (a documented Task) with its own identity."""
    task = copy.deepcopy(template)
    task_id = _hex(seed)
    arn = f"arn:aws:ecs:{region}:{account}:task/{cluster}/{task_id}"
    task["taskArn"] = arn
    task["clusterArn"] = f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"
    family = str(task["taskDefinitionArn"]).rsplit("/", 1)[-1]
    task["taskDefinitionArn"] = f"arn:aws:ecs:{region}:{account}:task-definition/{family}"
    task["group"] = f"service:{service}" if service else f"family:{family.split(':')[0]}"
    task["availabilityZone"] = f"{region}a"
    task["version"] = version
    task["desiredStatus"] = desired
    if desired == "STOPPED":
        task["lastStatus"] = "STOPPED"
        task["stoppedReason"] = "Essential container in task exited"
        task["stopCode"] = "EssentialContainerExited"
    if started is not None:
        task["startedAt"] = started.isoformat()
    if "containerInstanceArn" in task:
        task["containerInstanceArn"] = (
            f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/{_hex(cluster + account)}"
        )
    number = int(_hex(seed, 6), 16)
    ip = f"10.{number % 250}.{(number >> 8) % 250}.{(number >> 16) % 250 + 1}"
    attachment_ids = []
    for attachment in task.get("attachments") or []:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        attachment["id"] = f"{_hex(seed + 'att', 8)}-0000-4000-8000-{_hex(seed + 'att2', 12)}"
        attachment_ids.append(attachment["id"])
        for pair in attachment.get("details") or []:
            if pair["name"] == "privateIPv4Address":
                pair["value"] = ip
            elif pair["name"] == "networkInterfaceId":
                pair["value"] = f"eni-{_hex(seed + 'eni', 17)}"
            elif pair["name"] == "privateDnsName":
                pair["value"] = f"ip-{ip.replace('.', '-')}.ec2.internal"
    for container in task.get("containers") or []:
        container["taskArn"] = arn
        container["containerArn"] = (
            f"arn:aws:ecs:{region}:{account}:container/{cluster}/{task_id}/{_hex(seed + 'c')}"
        )
        container["runtimeId"] = f"{task_id}-{number % 100000}"
        container["imageDigest"] = (
            "sha256:" + hashlib.sha256(str(container.get("image")).encode()).hexdigest()
        )
        if desired == "STOPPED":
            container["lastStatus"] = "STOPPED"
            container["exitCode"] = 0
        if container.get("networkInterfaces") and attachment_ids:
            container["networkInterfaces"] = [{"attachmentId": attachment_ids[0], "privateIpv4Address": ip}]
    task["tags"] = [{"key": key, "value": value} for key, value in (tags or {}).items()]
    return task


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"page:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    return int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1])


@dataclass
class FakeOrg:
    """ECS as the sweep's member roles see it: per (account, region), clusters of task documents."""

    clock: SimClock
    clusters: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    moments: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    throttle: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # answers still to refuse
    # (account, region) -> extra task documents every DescribeTasks answer carries (a hostile endpoint)
    injected: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    on_call: Callable[[str, str, str], None] | None = None
    # Drift: (account, region, cluster ARN, service) -> its ServiceDeploymentBrief documents, and
    # service revisions by ARN, as AWS documents them (answered through botocore's parser).
    deployments: dict[tuple[str, str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _parsed: dict[tuple[str, int], Any] = field(default_factory=dict)

    def add(self, task: dict[str, Any]) -> dict[str, Any]:
        region, account = task["taskArn"].split(":")[3:5]
        cluster = task["clusterArn"]
        self.clusters[(account, region)].setdefault(cluster, {})[task["taskArn"]] = task
        return task

    def add_cluster(self, account: str, region: str, name: str) -> None:
        self.clusters[(account, region)].setdefault(f"arn:aws:ecs:{region}:{account}:cluster/{name}", {})

    def remove(self, task_arn: str) -> None:
        for clusters in self.clusters.values():
            for tasks in clusters.values():
                tasks.pop(task_arn, None)

    def tasks(self, account: str, region: str, desired: str | None = None) -> list[dict[str, Any]]:
        return [
            task
            for tasks in self.clusters.get((account, region), {}).values()
            for task in tasks.values()
            if desired is None or task["desiredStatus"] == desired
        ]

    def client(self, account: str, region: str) -> StubEcs:
        return StubEcs(self, account, region)

    def total_calls(self, account: str | None = None, region: str | None = None) -> int:
        return sum(
            count
            for (a, r, _), count in self.calls.items()
            if (account is None or a == account) and (region is None or r == region)
        )

    def parsed_task(self, task: dict[str, Any]) -> Any:
        key = (task["taskArn"], int(task.get("version") or 0))
        if key not in self._parsed:
            self._parsed[key] = as_boto3("DescribeTasks", {"tasks": [task], "failures": []})["tasks"][0]
        return self._parsed[key]


class StubEcs:
    def __init__(self, org: FakeOrg, account: str, region: str) -> None:
        self.org = org
        self.account = account
        self.region = region

    def _note(self, api: str) -> None:
        key = (self.account, self.region)
        self.org.calls[(self.account, self.region, api)] += 1
        self.org.moments[key].append(self.org.clock.monotonic())
        if self.org.on_call is not None:
            self.org.on_call(self.account, self.region, api)
        if self.org.throttle[(self.account, self.region, api)] > 0:
            self.org.throttle[(self.account, self.region, api)] -= 1
            raise throttling(api)

    def _cluster(self, name: str) -> dict[str, dict[str, Any]]:
        clusters = self.org.clusters.get((self.account, self.region), {})
        for arn, tasks in clusters.items():
            if name in (arn, arn.rsplit("/", 1)[-1]):
                return tasks
        raise ClientError(
            {"Error": {"Code": "ClusterNotFoundException", "Message": "Cluster not found."}}, "X"
        )

    def list_clusters(self, maxResults: int = 100, nextToken: str | None = None) -> dict[str, Any]:
        self._note("ListClusters")
        arns = sorted(self.org.clusters.get((self.account, self.region), {}))
        start = _offset(nextToken)
        page = arns[start : start + maxResults]
        answer: dict[str, Any] = {"clusterArns": page}
        if start + maxResults < len(arns):
            answer["nextToken"] = _token(start + maxResults)
        return answer

    def list_tasks(
        self,
        cluster: str,
        desiredStatus: str = "RUNNING",
        maxResults: int = 100,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self._note("ListTasks")
        tasks = self._cluster(cluster)
        arns = sorted(arn for arn, task in tasks.items() if task["desiredStatus"] == desiredStatus)
        start = _offset(nextToken)
        answer: dict[str, Any] = {"taskArns": arns[start : start + maxResults]}
        if start + maxResults < len(arns):
            answer["nextToken"] = _token(start + maxResults)
        return answer

    def describe_tasks(
        self, cluster: str, tasks: list[str], include: list[str] | None = None
    ) -> dict[str, Any]:
        self._note("DescribeTasks")
        if len(tasks) > 100:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterException", "Message": "> 100"}}, "DescribeTasks"
            )
        known = self._cluster(cluster)
        found, failures = [], []
        for arn in tasks:
            task = known.get(arn)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            parsed = dict(self.org.parsed_task(task))
            if "TAGS" not in (include or []):
                parsed.pop("tags", None)
            found.append(parsed)
        found += self.org.injected.get((self.account, self.region), [])
        return {"tasks": found, "failures": failures}

    def list_service_deployments(self, cluster: str, service: str, **_: Any) -> dict[str, Any]:
        self._note("ListServiceDeployments")
        deployments = self.org.deployments.get((self.account, self.region, cluster, service), [])
        return as_boto3("ListServiceDeployments", {"serviceDeployments": deployments})

    def describe_service_revisions(self, serviceRevisionArns: list[str]) -> dict[str, Any]:
        self._note("DescribeServiceRevisions")
        if len(serviceRevisionArns) > 20:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterException", "Message": "> 20"}},
                "DescribeServiceRevisions",
            )
        found = [self.org.revisions[arn] for arn in serviceRevisionArns if arn in self.org.revisions]
        failures = [
            {"arn": arn, "reason": "MISSING"} for arn in serviceRevisionArns if arn not in self.org.revisions
        ]
        return as_boto3("DescribeServiceRevisions", {"serviceRevisions": found, "failures": failures})


__all__ = ["FIXTURES", "FakeOrg", "SimClock", "StubEcs", "as_boto3", "ecs_task", "fixture", "throttling"]
