"""EventBridge ``ECS Task State Change`` (``source: aws.ecs``) to an observation.

``detail`` is DescribeTasks' Task in camelCase with ISO timestamps. Events bring what snapshots
cannot: stop reason and code, exit codes, the repository image digest, ENI ids, platform
version. ``detail.version`` orders events; ``updatedAt`` (or the event ``time``) dates them.
"""

from __future__ import annotations

import re

from core.model.task import Container, Network, Observation, Task
from core.normalize.common import (
    checked,
    container_instance_arn,
    is_internal,
    launch_type,
    lifecycle_status,
    parse_task_arn,
    resolve_cluster,
    service_from_group,
    sort_containers,
)
from core.normalize.reader import Obj, bad
from core.vocabulary import ECS_EVENT_SOURCE, TASK_STATE_CHANGE

_TASK_DEFINITION_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/([A-Za-z0-9_-]{1,255}):([0-9]{1,10})",
    re.ASCII,
)


def _attachments(detail: Obj) -> dict[str, dict[str, str]]:
    """ENI attachments by id: their ``details`` name/value pairs as a dict."""
    out: dict[str, dict[str, str]] = {}
    for att in detail.objs("attachments"):
        att_id = att.text("id")
        details: dict[str, str] = {}
        for pair in att.objs("details"):
            name, value = pair.text("name"), pair.text("value")
            if name is not None and value is not None:
                details[name] = value
        if att_id is not None:
            out[att_id] = details
    return out


def _networks(doc: Obj, attachments: dict[str, dict[str, str]]) -> list[Network]:
    out = []
    for nic in doc.objs("networkInterfaces"):
        att_id = nic.text("attachmentId")
        details = attachments.get(att_id, {}) if att_id is not None else {}
        ipv4, ipv6 = nic.text("privateIpv4Address"), nic.text("ipv6Address")
        out.append(
            checked(
                Network,
                network_mode="awsvpc",  # only awsvpc tasks have network interfaces
                ipv4_addresses=[ipv4] if ipv4 else [],
                ipv6_addresses=[ipv6] if ipv6 else [],
                mac_address=details.get("macAddress"),
                private_dns_name=details.get("privateDnsName"),
                eni=details.get("networkInterfaceId"),
            )
        )
    return out


def _container(doc: Obj, attachments: dict[str, dict[str, str]]) -> Container:
    name = doc.text("name")
    if name is None:
        raise bad(doc.at("name"), "is required")
    return checked(
        Container,
        name=name,
        docker_id=doc.text("runtimeId"),  # the DockerId of TMDE: joins events to snapshots
        container_arn=doc.text("containerArn"),
        internal=is_internal(name, None),
        image=doc.text("image"),
        image_digest=doc.text("imageDigest"),  # the repository manifest digest
        last_status=lifecycle_status(doc.text("lastStatus")),
        exit_code=doc.integer("exitCode"),
        reason=doc.text("reason"),
        health_status=doc.text("healthStatus"),
        networks=_networks(doc, attachments),
    )


def _tags(detail: Obj) -> dict[str, str]:
    """DescribeTasks shape ``[{key, value}]``; a value may be empty."""
    tags: dict[str, str] = {}
    for tag in detail.objs("tags"):
        key = tag.text("key")
        if key is not None:
            tags[key] = tag.text("value") or ""
    return tags


def parse_detail(detail: Obj) -> Task:
    ref = parse_task_arn(detail.text("taskArn"), detail.at("taskArn"))
    cluster_arn, cluster_name = resolve_cluster(detail.text("clusterArn"), ref, detail.at("clusterArn"))
    family = revision = None
    td_arn = detail.text("taskDefinitionArn")
    if td_arn is not None:
        match = _TASK_DEFINITION_ARN.fullmatch(td_arn)
        if match is None:
            raise bad(detail.at("taskDefinitionArn"), "is not an ECS task definition ARN")
        family, revision = match.groups()
    attachments = _attachments(detail)
    return checked(
        Task,
        task_arn=ref.arn,
        task_id=ref.task_id,
        account_id=ref.account_id,
        region=ref.region,
        cluster_arn=cluster_arn,
        cluster_name=cluster_name,
        family=family,
        revision=revision,
        service_name=service_from_group(detail.text("group")),
        launch_type=launch_type(detail.text("launchType")),
        platform_version=detail.text("platformVersion"),
        availability_zone=detail.text("availabilityZone"),
        desired_status=detail.text("desiredStatus"),
        last_status=lifecycle_status(detail.text("lastStatus")),
        health_status=detail.text("healthStatus"),
        cpu=detail.text_or_int("cpu"),  # already CPU units / MiB strings ("256", "512")
        memory=detail.text_or_int("memory"),
        pull_started_at=detail.time("pullStartedAt"),
        started_at=detail.time("startedAt"),
        stopping_at=detail.time("stoppingAt"),
        stopped_at=detail.time("stoppedAt"),
        stopped_reason=detail.text("stoppedReason"),
        stop_code=detail.text("stopCode"),
        tags=_tags(detail),
        container_instance_arn=container_instance_arn(
            detail.text("containerInstanceArn"), ref, detail.at("containerInstanceArn")
        ),
        containers=sort_containers([_container(c, attachments) for c in detail.objs("containers")]),
    )


def normalize(event: object) -> Observation:
    if not isinstance(event, dict):
        raise bad("event", "must be a JSON object")
    doc = Obj(event, "")  # paths are relative to the event document
    if doc.data.get("detail-type") != TASK_STATE_CHANGE:
        raise bad("detail-type", f"must be {TASK_STATE_CHANGE!r}")
    if doc.data.get("source") != ECS_EVENT_SOURCE:
        raise bad("source", f"must be {ECS_EVENT_SOURCE!r}")
    detail = Obj.of(doc.data.get("detail"), "detail")
    task = parse_detail(detail)
    # EventBridge stamps an event with the account and region it came from, and a member account can
    # forward only its own ECS events (it cannot put `aws.*` events itself). A task ARN of another
    # account or region than the event's own is not AWS's word about that task: refused.
    for name, stated in (("account", task.account_id), ("region", task.region)):
        envelope_value = doc.data.get(name)
        if envelope_value is not None and envelope_value != stated:
            raise bad(name, f"is {envelope_value!r}, but detail.taskArn names {stated!r}")
    observed_at = detail.time("updatedAt") or doc.time("time")
    if observed_at is None:
        raise bad("detail.updatedAt", "or the event time is required")
    version = detail.integer("version")
    if version is not None and version < 0:
        raise bad(detail.at("version"), "must not be negative")
    return checked(
        Observation,
        task=task,
        source="event",
        observed_at=observed_at,
        event_version=version,
        reporter="eventbridge",
    )
