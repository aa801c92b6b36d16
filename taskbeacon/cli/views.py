"""How each API answer looks as text: tasks, one task, history, search hits, summary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from taskbeacon.cli.render import NULL, cell, key_values, short_digest, table, when

TASK_HEADERS = (
    "TASK ID",
    "CLUSTER",
    "SERVICE",
    "FAMILY:REV",
    "STATUS",
    "LAUNCH",
    "AZ",
    "IPS",
    "STARTED",
    "STALE",
    "DRIFT",
)


def task_ips(task: dict[str, Any]) -> list[str]:
    """Every IPv4 address of every container of the task, once each, in order of appearance."""
    seen: dict[str, None] = {}
    for container in task.get("containers") or []:
        for network in container.get("networks") or []:
            for ip in network.get("ipv4Addresses") or []:
                seen.setdefault(ip, None)
    return list(seen)


def family_rev(task: dict[str, Any]) -> str:
    family, revision = task.get("family"), task.get("revision")
    if not family:
        return NULL
    return f"{family}:{revision}" if revision else str(family)


def task_row(task: dict[str, Any]) -> list[str]:
    return [
        cell(task.get("taskId")),
        cell(task.get("clusterName")),
        cell(task.get("serviceName")),
        family_rev(task),
        cell(task.get("lastStatus")),
        cell(task.get("launchType")),
        cell(task.get("availabilityZone")),
        cell(task_ips(task)),
        when(task.get("startedAt") or task.get("firstSeenAt")),
        "STALE" if task.get("stale") else "",
        "DRIFTED" if is_drifted(task) else "",
    ]


def is_drifted(task: dict[str, Any]) -> bool:
    """Whether the sweep's verdict says the task runs other than its service's current deployment."""
    drift = task.get("drift")
    return isinstance(drift, dict) and drift.get("drifted") is True


def tasks_table(tasks: Iterable[dict[str, Any]]) -> str:
    return table(TASK_HEADERS, [task_row(t) for t in tasks])


def search_table(items: Iterable[dict[str, Any]]) -> str:
    """Plain tasks, or ``ip`` hits (``{"task", "heldFrom", "heldUntil"}``) with when the task held the IP."""
    items = list(items)
    if not any("task" in item and isinstance(item["task"], dict) for item in items):
        return tasks_table(items)
    rows = []
    for item in items:
        task = item["task"] if isinstance(item.get("task"), dict) else item
        stated = item.get("confirmed")
        confirmed = NULL if stated is None else ("AWS" if stated else "task only")
        rows.append([*task_row(task), when(item.get("heldFrom")), when(item.get("heldUntil")), confirmed])
    return table((*TASK_HEADERS, "HELD FROM", "HELD UNTIL", "STATED BY"), rows)


def task_detail(task: dict[str, Any]) -> str:
    pairs = [
        ("Task ARN", cell(task.get("taskArn"))),
        ("Task ID", cell(task.get("taskId"))),
        ("Account", cell(task.get("accountId"))),
        ("Region", cell(task.get("region"))),
        ("Cluster", cell(task.get("clusterName") or task.get("clusterArn"))),
        ("Service", cell(task.get("serviceName"))),
        ("Family:Rev", family_rev(task)),
        ("Launch type", cell(task.get("launchType"))),
        ("Platform version", cell(task.get("platformVersion"))),
        ("Availability zone", cell(task.get("availabilityZone"))),
        ("VPC", cell(task.get("vpcId"))),
        ("Status", f"{cell(task.get('lastStatus'))} (desired {cell(task.get('desiredStatus'))})"),
        ("Health", cell(task.get("healthStatus"))),
        ("CPU / memory", f"{cell(task.get('cpu'))} / {cell(task.get('memory'))}"),
        ("IPs", cell(task_ips(task))),
        ("Started", when(task.get("startedAt"))),
        ("Stopping", when(task.get("stoppingAt"))),
        ("Stopped", when(task.get("stoppedAt"))),
        ("Stop code", cell(task.get("stopCode"))),
        ("Stopped reason", cell(task.get("stoppedReason"))),
        ("Container instance", cell(task.get("containerInstanceArn"))),
        ("Tags", cell(task.get("tags"))),
        ("First seen", when(task.get("firstSeenAt"))),
        ("Last seen", when(task.get("lastSeenAt"))),
        ("Last source", cell(task.get("lastSource"))),
        ("Reporters", cell(task.get("reporters"))),
        *_provenance(task.get("sources") or {}),
        ("Stale", cell(bool(task.get("stale")))),
        ("Drift", drift_verdict(task.get("drift"))),
    ]
    text = key_values(pairs)
    containers = task.get("containers") or []
    if containers:
        text += f"\n\nContainers:\n{containers_table(containers)}"
    drift = task.get("drift")
    if isinstance(drift, dict):
        text += f"\n\n{drift_detail(task, drift)}"
    return text


def drift_verdict(drift: Any) -> str:
    """One line: the sweep's verdict, since when and from which source, or why there is none."""
    if not isinstance(drift, dict):
        return "not judged (a standalone task, or the sweep has not judged its service yet)"
    said = f"since {when(drift.get('since'))} (source {cell(drift.get('source'))})"
    if not drift.get("drifted"):
        return f"no: runs what its service's current deployment asked for, {said}"
    what = []
    if drift.get("taskDefinitionDrifted"):
        what.append(f"runs another task definition than {cell(drift.get('expectedTaskDefinition'))}")
    what += [
        f"container {c.get('name')} runs another image digest"
        for c in drift.get("containers") or []
        if c.get("drifted")
    ]
    return f"DRIFTED {said}: {'; '.join(what) or 'see below'}"


def drift_detail(task: dict[str, Any], drift: dict[str, Any]) -> str:
    """What the service's current deployment asked for against what the task runs, per container."""
    runs = family_rev(task)
    definition = f"{cell(drift.get('expectedTaskDefinition'))} (the task runs {runs})"
    if drift.get("taskDefinitionDrifted"):
        definition += ": DRIFTED"
    pairs = [
        ("Verdict", "DRIFTED" if drift.get("drifted") else "not drifted"),
        ("Expected task definition", definition),
        ("Service revision", cell(drift.get("serviceRevisionArn"))),
        ("Service deployment", cell(drift.get("serviceDeploymentArn"))),
        ("Since", when(drift.get("since"))),
        ("Source", cell(drift.get("source"))),
    ]
    for c in drift.get("containers") or []:
        pairs += [
            (f"Container {cell(c.get('name'))}", _container_verdict(c)),
            ("  expected digest", cell(c.get("expectedDigest"))),
            ("  actual digest", cell(c.get("actualDigest"))),
        ]
    return f"Drift (against its service's current deployment):\n{key_values(pairs)}"


def _container_verdict(container: dict[str, Any]) -> str:
    if container.get("drifted"):
        return "DRIFTED: runs another image digest than the one ECS resolved"
    if container.get("expectedDigest") and container.get("actualDigest"):
        return "the digest ECS resolved"
    return "not judged (a digest is not known)"


def _provenance(sources: dict[str, Any]) -> list[tuple[str, str]]:
    """Which source stated each group of facts, and what only the task itself claimed."""
    groups = ("status", "network", "images", "labels", "tags")
    stated = ", ".join(f"{group}: {'+'.join(sources.get(group) or []) or NULL}" for group in groups)
    unconfirmed = sources.get("unconfirmed") or {}
    claims = sorted(
        v for kind in ("ips", "enis", "images", "imageDigests") for v in unconfirmed.get(kind) or []
    )
    return [("Sources", stated), ("Unconfirmed", cell(claims) if claims else "none")]


COVERAGE_COLUMNS = ("accountId", "region", "agent", "event", "ecs-api", "lastSweptAt", "lastEventAt")


def coverage_rows(body: Any) -> list[dict[str, Any]]:
    """One flat row per account and region of GET /coverage."""
    rows = []
    for item in body.get("items", []) if isinstance(body, dict) else []:
        tasks = item.get("tasks") or {}
        rows.append(
            {
                "accountId": item.get("accountId"),
                "region": item.get("region"),
                **{source: tasks.get(source, 0) for source in ("agent", "event", "ecs-api")},
                "lastSweptAt": item.get("lastSweptAt"),
                "lastEventAt": item.get("lastEventAt"),
            }
        )
    return rows


def coverage_table(rows: list[dict[str, Any]]) -> str:
    headers = ("ACCOUNT", "REGION", "AGENT", "EVENTS", "SWEEP", "LAST SWEPT", "LAST EVENT")
    return table(
        headers,
        [
            [
                cell(r["accountId"]),
                cell(r["region"]),
                cell(r["agent"]),
                cell(r["event"]),
                cell(r["ecs-api"]),
                when(r["lastSweptAt"]) if r["lastSweptAt"] else "never",
                when(r["lastEventAt"]) if r["lastEventAt"] else "never",
            ]
            for r in rows
        ],
    )


def containers_table(containers: Iterable[dict[str, Any]]) -> str:
    rows = []
    for c in containers:
        ips = [ip for n in c.get("networks") or [] for ip in n.get("ipv4Addresses") or []]
        rows.append(
            [
                cell(c.get("name")) + (" (internal)" if c.get("internal") else ""),
                cell(c.get("image")),
                short_digest(c.get("imageDigest")),
                cell(c.get("lastStatus")),
                cell(c.get("healthStatus")),
                cell(ips),
                cell(c.get("exitCode")),
            ]
        )
    return table(("NAME", "IMAGE", "DIGEST", "STATUS", "HEALTH", "IPS", "EXIT"), rows)


_HISTORY_TIME_KEYS = ("at", "observedAt", "changedAt", "recordedAt", "timestamp")
_HISTORY_SOURCE_KEYS = ("source", "lastSource")


def history_table(items: Iterable[dict[str, Any]]) -> str:
    """History entries: time, source, then what changed (``changes`` if present, else the other fields)."""
    rows = []
    for item in items:
        time_key = next((k for k in _HISTORY_TIME_KEYS if k in item), None)
        source_key = next((k for k in _HISTORY_SOURCE_KEYS if k in item), None)
        rest = item.get("changes")
        if rest is None:
            rest = {k: v for k, v in item.items() if k not in (time_key, source_key)}
        at = when(item.get(time_key)) if time_key else NULL
        source = cell(item.get(source_key)) if source_key else NULL
        rows.append([at, source, _change(rest)])
    return table(("TIME", "SOURCE", "CHANGE"), rows)


def _change(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={_change(v)}" for k, v in value.items()) or NULL
    if isinstance(value, list):
        return "[" + ",".join(_change(v) for v in value) + "]"
    return cell(value)


_GROUP_KEYS = ("group", "key", "value", "name")
_COUNT_KEYS = ("running", "count", "runningCount", "tasks")


def summary_rows(body: Any, by: str) -> list[tuple[str, Any]]:
    """Accept ``{"items": [{"group": .., "running": ..}]}``, ``{"groups": {name: n}}`` or a bare list/dict."""
    groups = body
    if isinstance(body, dict):
        groups = next((body[k] for k in ("items", "groups", "counts") if k in body), body)
    if isinstance(groups, dict):
        return [(str(k), v) for k, v in groups.items()]
    rows = []
    for item in groups if isinstance(groups, list) else []:
        if isinstance(item, dict):
            group = next((item[k] for k in (*_GROUP_KEYS, by) if k in item), None)
            count = next((item[k] for k in _COUNT_KEYS if k in item), None)
            rows.append((cell(group), count))
    return rows


def group_name(group: str) -> str:
    """A cluster ARN as people name it: `<name> (<account>, <region>)`; anything else as it is."""
    parts = group.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "ecs" and parts[5].startswith("cluster/"):
        return f"{parts[5].removeprefix('cluster/')} ({parts[4]}, {parts[3]})"
    return group


def summary_table(body: Any, by: str, *, count: str = "RUNNING") -> str:
    """``count``: the header of the counts (``DRIFTED`` for ``summary --drifted``)."""
    rows = summary_rows(body, by)
    lines = [[group_name(name), cell(count_)] for name, count_ in rows]
    total = sum(c for _, c in rows if isinstance(c, int))
    return table(("GROUP", count), [*lines, ["TOTAL", str(total)]])
