"""Drift through the CLI, against local mode's real gateway and handlers: a service in (moto's) ECS,
one of its tasks running the digest ECS resolved for the service's revision, one running another, a
standalone task; the sweep judges them (``POST /_local/sweep``, with local mode's stand-in for
``ListServiceDeployments`` and ``DescribeServiceRevisions``), then the CLI asks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskbeacon.cli.main import main
from taskbeacon.local.service_revisions import registry_digest
from taskbeacon.local.sweep import LocalSweep, MotoEcs
from taskbeacon.local.system import LocalSystem
from tests.drift_seed import IMAGE, PREVIOUS_BUILD, seed_drifted_service
from tests.http.localapi import send

ACCOUNT = "313233343536"  # moto's backends live as long as the process: an account of this module's own
CLUSTER = "drift-cli"
# Tests that share this process (the console's) may have drifted tasks of their own: names of our own.
SERVICE = "pay-cli"
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


@dataclass
class Fleet:
    local: LocalSystem
    operator: dict[str, str]
    drifted: str  # task ids
    in_line: str
    standalone: str


def _id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    saved = dict(os.environ)
    local = LocalSystem(port=0, account_id=ACCOUNT).start()
    sweep = None
    try:
        sweep = LocalSweep.for_system(local)
        seeded = seed_drifted_service(
            MotoEcs(sweep.endpoint),
            account=ACCOUNT,
            region=local.region,
            cluster=CLUSTER,
            service=SERVICE,
            ips=("10.7.0.10", "10.7.0.11"),
            started=STARTED,
            standalone_ip="10.7.0.12",
        )
        assert seeded.standalone is not None
        arns = {"in_line": seeded.in_line, "drifted": seeded.drifted, "standalone": seeded.standalone}
        operator = {"AccessKeyId": local.operator.access_key, "SecretAccessKey": local.operator.secret_key}
        reply = send(local.url, "POST", "/_local/sweep", credentials=operator, body=b"{}")
        assert reply.status == 200, reply.body
        assert reply.body["total"]["tasksSeen"] == 3, reply.body
        yield Fleet(local, operator, **{name: _id(arn) for name, arn in arns.items()})
    finally:
        if sweep is not None:
            sweep.stop()
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def cli(fleet: Fleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``taskbeacon ARGS`` against local mode, signed with its operator's keys: (exit code, out, err)."""
    monkeypatch.setenv("TASKBEACON_ENDPOINT", fleet.local.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fleet.operator["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fleet.operator["SecretAccessKey"])
    monkeypatch.setenv("AWS_REGION", fleet.local.region)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:]]


def test_tasks_list_drifted_lists_only_the_drifted_task(cli: Any, fleet: Fleet) -> None:
    code, out, err = cli("tasks", "list", "--cluster", CLUSTER)
    assert code == 0, err
    assert sorted(_ids(out)) == sorted([fleet.drifted, fleet.in_line, fleet.standalone])
    # The table marks the drifted task, and only it.
    marked = {line.split()[0] for line in out.splitlines()[1:] if line.split()[-1] == "DRIFTED"}
    assert out.splitlines()[0].split()[-1] == "DRIFT" and marked == {fleet.drifted}

    code, out, err = cli("tasks", "list", "--drifted")
    assert code == 0, err
    listed = _ids(out)
    assert fleet.drifted in listed and fleet.in_line not in listed and fleet.standalone not in listed
    assert all(line.split()[-1] == "DRIFTED" for line in out.splitlines()[1:])
    code, out, _ = cli("tasks", "list", "--drifted", "--cluster", CLUSTER, "--json")
    body = json.loads(out)
    (task,) = body["items"]
    assert task["taskId"] == fleet.drifted and task["drift"]["drifted"] is True
    # Another filter narrows the drifted ones as it narrows any list.
    code, out, err = cli("tasks", "list", "--drifted", "--service", "another")
    assert (code, out) == (0, "") and "no tasks match" in err


def test_the_verdicts_of_the_others(cli: Any, fleet: Fleet) -> None:
    code, out, _ = cli("tasks", "show", fleet.in_line, "--json")
    drift = json.loads(out)["drift"]
    assert drift["drifted"] is False and drift["containers"][0]["expectedDigest"] == registry_digest(IMAGE)
    code, out, _ = cli("tasks", "show", fleet.standalone, "--json")
    assert json.loads(out)["drift"] is None  # a standalone task has no service revision: never judged
    code, out, _ = cli("tasks", "show", fleet.standalone)
    assert code == 0
    assert "Drift:              not judged (a standalone task" in out
    assert "expected digest" not in out


def test_summary_by_service_counts_the_drifted_task(cli: Any) -> None:
    code, out, err = cli("summary", "--by", "service", "--drifted")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["GROUP", "DRIFTED"]
    assert [SERVICE, "1"] in lines
    assert lines[-1] == ["TOTAL", str(sum(int(count) for _, count in lines[1:-1]))]
    code, out, _ = cli("summary", "--by", "service", "--drifted", "--json")
    assert {"group": SERVICE, "running": 1} in json.loads(out)["groups"]
    # Without --drifted: every running task of the service.
    code, out, _ = cli("summary", "--by", "service", "--json")
    assert {"group": SERVICE, "running": 2} in json.loads(out)["groups"]


def test_tasks_show_prints_the_verdict(cli: Any, fleet: Fleet) -> None:
    code, out, err = cli("tasks", "show", fleet.drifted)
    assert code == 0, err
    pairs = {
        key.strip(): value.strip()
        for key, sep, value in (line.partition(":") for line in out.splitlines())
        if sep and key.strip()
    }
    assert pairs["Drift"].startswith("DRIFTED since ")
    assert pairs["Drift"].endswith("(source ecs-api): container pay runs another image digest")
    assert "Drift (against its service's current deployment):" in out
    assert pairs["Verdict"] == "DRIFTED"
    assert pairs["Expected task definition"].endswith("task-definition/pay:1 (the task runs pay:1)")
    assert pairs["Source"] == "ecs-api"
    assert pairs["Container pay"].startswith("DRIFTED")
    assert pairs["expected digest"] == registry_digest(IMAGE)
    assert pairs["actual digest"] == registry_digest(PREVIOUS_BUILD)
    # --json is the API's own answer.
    code, out, _ = cli("tasks", "show", fleet.drifted, "--json")
    shown = json.loads(out)
    direct = send(fleet.local.url, "GET", f"/tasks/{fleet.drifted}", credentials=fleet.operator).body
    assert shown == direct
    assert shown["drift"]["source"] == "ecs-api" and shown["drift"]["containers"] == [
        {
            "name": "pay",
            "expectedDigest": registry_digest(IMAGE),
            "actualDigest": registry_digest(PREVIOUS_BUILD),
            "drifted": True,
        }
    ]
    assert pairs["Since"] == datetime.fromisoformat(shown["drift"]["since"]).astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.mark.parametrize("by", ["image", "status"])
def test_summary_drifted_by_what_drift_does_not_keep_is_a_usage_error(cli: Any, by: str) -> None:
    code, out, err = cli("summary", "--by", by, "--drifted")
    assert (code, out) == (2, "")
    allowed = "cluster, service, family, availabilityZone, launchType, accountId"
    assert f"--drifted counts by {allowed} only (not --by {by}" in err


def test_the_api_refuses_what_the_cli_would_not_send(fleet: Fleet) -> None:
    """The CLI's usage error stands for the API's own 400 (so it is never the only guard)."""
    for path in ("/summary?by=image&drifted=true", "/tasks?drifted=yes"):
        reply = send(fleet.local.url, "GET", path, credentials=fleet.operator)
        assert reply.status == 400 and reply.body["error"]["field"] in ("by", "drifted"), reply.body
