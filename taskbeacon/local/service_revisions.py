"""Local mode's stand-in for ``ListServiceDeployments`` and ``DescribeServiceRevisions``.

moto models neither, so local mode's sweep (taskbeacon/local/sweep.py) would never judge drift. This
module answers both on the sweep's own ECS client (a botocore ``before-call`` hook, installed only in
local mode) from what moto does know:

- a service's one deployment, SUCCESSFUL, targets a revision named after the service's current task
  definition (moto's ``DescribeServices``); a task standing alone, or a service moto does not have,
  has no deployment (not judged);
- that revision's ``taskDefinition`` is the service's, and its ``containerImages`` are the task
  definition's containers (moto's ``DescribeTaskDefinition``), each with the digest the local
  registry resolves its image to (``registry_digest``, the digest the demo's tasks run).

Answers go through botocore's own parser for the operation, so the sweep reads them exactly as it
reads AWS's. See docs/decisions.md "Drift".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

REGISTRY = "demo-registry"
_LIST = "ListServiceDeployments"
_DESCRIBE = "DescribeServiceRevisions"


def registry_digest(image: str) -> str:
    """The local registry's manifest digest of an image reference (one tag, one digest)."""
    return "sha256:" + hashlib.sha256(f"{REGISTRY}/{image}".encode()).hexdigest()


def _number(text: str) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16))


class ServiceRevisions:
    """Answers the two calls for one ECS client (its account and region are the client's own)."""

    def __init__(self, client: Any, digest_of: Callable[[str], str | None] = registry_digest) -> None:
        self.client = client
        self.digest_of = digest_of

    def install(self) -> Any:
        events = self.client.meta.events
        events.register(f"before-call.ecs.{_LIST}", self._on_list)
        events.register(f"before-call.ecs.{_DESCRIBE}", self._on_describe)
        return self.client

    # -- the calls ---------------------------------------------------------------------------
    def list_service_deployments(self, cluster: str, service: str) -> dict[str, Any]:
        found = self._service(cluster, service)
        if found is None or not found.get("taskDefinition"):
            return {"serviceDeployments": []}
        created = found.get("createdAt") or datetime.now(UTC)
        return {
            "serviceDeployments": [
                {
                    "serviceDeploymentArn": self._arn(
                        found, "service-deployment", _number(found["serviceArn"])
                    ),
                    "serviceArn": found["serviceArn"],
                    "clusterArn": found["clusterArn"],
                    "createdAt": _epoch(created),
                    "startedAt": _epoch(created),
                    "finishedAt": _epoch(created),
                    "targetServiceRevisionArn": self._revision_arn(found),
                    "status": "SUCCESSFUL",
                }
            ]
        }

    def describe_service_revisions(self, arns: list[str]) -> dict[str, Any]:
        revisions, failures = [], []
        for arn in arns:
            revision = self._revision(arn)
            if revision is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                revisions.append(revision)
        return {"serviceRevisions": revisions, "failures": failures}

    # -- what moto knows ----------------------------------------------------------------------
    def _service(self, cluster: str, service: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.describe_services(cluster=cluster, services=[service])
        except ClientError:
            return None
        services = [s for s in answer.get("services") or [] if s.get("status") == "ACTIVE"]
        return services[0] if services else None

    def _revision_arn(self, service: dict[str, Any]) -> str:
        return self._arn(service, "service-revision", _number(str(service["taskDefinition"])))

    @staticmethod
    def _arn(service: dict[str, Any], kind: str, number: str) -> str:
        prefix, _, path = str(service["serviceArn"]).partition(":service/")
        if "/" not in path:  # the old ARN format names no cluster
            path = f"{str(service['clusterArn']).rsplit('/', 1)[-1]}/{path}"
        return f"{prefix}:{kind}/{path}/{number}"

    def _revision(self, arn: str) -> dict[str, Any] | None:
        parts = arn.split(":service-revision/", 1)[-1].split("/")
        if len(parts) != 3:
            return None
        cluster, name, _ = parts
        service = self._service(cluster, name)
        if service is None or not service.get("taskDefinition") or self._revision_arn(service) != arn:
            return None  # only the service's current revision is known here
        definition = self.client.describe_task_definition(taskDefinition=service["taskDefinition"])
        containers = definition["taskDefinition"].get("containerDefinitions") or []
        images = []
        for container in containers:
            image = {"containerName": container["name"], "image": container.get("image")}
            digest = self.digest_of(str(container.get("image")))
            if digest:
                image["imageDigest"] = digest
            images.append(image)
        return {
            "serviceRevisionArn": arn,
            "serviceArn": service["serviceArn"],
            "clusterArn": service["clusterArn"],
            "taskDefinition": service["taskDefinition"],
            "containerImages": images,
            "createdAt": _epoch(service.get("createdAt") or datetime.now(UTC)),
        }

    # -- botocore's hook ---------------------------------------------------------------------
    def _on_list(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        request = _request(params)
        answer = self.list_service_deployments(
            str(request.get("cluster") or "default"), str(request["service"])
        )
        return _response(model, answer)

    def _on_describe(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        request = _request(params)
        return _response(
            model, self.describe_service_revisions(list(request.get("serviceRevisionArns") or []))
        )


def install(client: Any) -> Any:
    """``client`` (an ECS client) answering both calls from moto's services and task definitions."""
    return ServiceRevisions(client).install()


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)


def _request(params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body") or b"{}"
    text = body.decode() if isinstance(body, bytes) else str(body)
    document = json.loads(text or "{}")
    return document if isinstance(document, dict) else {}


def _response(model: Any, document: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What botocore would hand back for ``document`` as the operation's HTTP answer."""
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser

    body = json.dumps(document).encode()
    parsed: dict[str, Any] = create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200}, model.output_shape
    )
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0})
    return AWSResponse("local", 200, {}, None), parsed


__all__ = ["ServiceRevisions", "install", "registry_digest"]
