"""The sweep's infrastructure (infra/sweep.py): schedule, run after deploy, queue, worker, roles, settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_synth import Synth

from infra.functions import ENV_NAMES, SWEEP_PLANNER, SWEEP_WORKER
from infra.sweep import MAX_RECEIVES, WORKER_MAX_CONCURRENCY

pytestmark = pytest.mark.cdk

SWEEP_ENV = (
    "sweep_accounts",
    "sweep_regions",
    "sweep_role_name",
    "sweep_queue_url",
    "sweep_calls_per_second",
)


def _function(synth_result: Synth, handler: str) -> tuple[str, dict[str, Any]]:
    ((fn_id, fn),) = [
        (k, f["Properties"])
        for k, f in synth_result.resources("AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == handler
    ]
    return fn_id, fn


def _role_statements(synth_result: Synth, handler: str) -> list[dict[str, Any]]:
    role_id = _function(synth_result, handler)[1]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth_result.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _queues(synth_result: Synth) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(queue id, queue, dead-letter id, dead-letter queue) of the sweep."""
    queues = synth_result.resources("AWS::SQS::Queue")
    ((dlq_id, dlq),) = [(k, q) for k, q in queues.items() if k.startswith("SweepQueueDeadLetters")]
    ((queue_id, queue),) = [(k, q) for k, q in queues.items() if k.startswith("SweepQueue") and k != dlq_id]
    return queue_id, queue["Properties"], dlq_id, dlq["Properties"]


def test_planner_runs_on_the_interval(default_synth: Synth, full_synth: Synth) -> None:
    for synth_result, hours in ((default_synth, 12), (full_synth, 6)):
        planner_id, _ = _function(synth_result, SWEEP_PLANNER.handler)
        (rule,) = [
            r["Properties"]
            for r in synth_result.resources("AWS::Events::Rule").values()
            if planner_id in json.dumps(r["Properties"].get("Targets", []))
        ]
        assert rule["ScheduleExpression"] == f"rate({hours} hours)"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [planner_id, "Arn"]}
        assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
        assert "DeadLetterConfig" in target


def test_planner_runs_once_right_after_deploy_without_holding_it(default_synth: Synth) -> None:
    planner_id, _ = _function(default_synth, SWEEP_PLANNER.handler)
    ((_, trigger),) = default_synth.resources("Custom::Trigger").items()
    props = trigger["Properties"]
    # Asynchronous: the deploy does not wait for the sweep and does not fail with it.
    assert props["InvocationType"] == "Event"
    # Every deploy that changes the planner (code or settings) runs it again.
    assert props["ExecuteOnHandlerChange"] is True
    (version_id,) = [
        k
        for k, v in default_synth.resources("AWS::Lambda::Version").items()
        if v["Properties"]["FunctionName"] == {"Ref": planner_id}
    ]
    assert props["HandlerArn"] == {"Ref": version_id}
    # After what the sweep needs: the queue, the worker, its role's policy and its event source.
    queue_id, _, _, _ = _queues(default_synth)
    worker_id, _ = _function(default_synth, SWEEP_WORKER.handler)
    mapping_id = next(
        k
        for k, m in default_synth.resources("AWS::Lambda::EventSourceMapping").items()
        if m["Properties"]["FunctionName"] == {"Ref": worker_id}
    )
    assert {queue_id, worker_id, mapping_id} <= set(trigger["DependsOn"])
    assert any(d.startswith("FunctionsSweepWorkerRoleDefaultPolicy") for d in trigger["DependsOn"])


def test_queue_outlives_the_worker_and_has_dead_letters(default_synth: Synth) -> None:
    _, queue, dlq_id, dlq = _queues(default_synth)
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    # Lambda's advice: a visibility timeout of 6x the function's timeout.
    assert queue["VisibilityTimeout"] == 6 * SWEEP_WORKER.timeout_s > SWEEP_WORKER.timeout_s
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert MAX_RECEIVES == 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    for queue_ref in _queues(default_synth)[0], dlq_id:
        (policy,) = [
            p
            for p in default_synth.resources("AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_ref} in p["Properties"]["Queues"]
        ]
        (tls,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_worker_takes_one_account_region_at_a_time(any_synth: Synth) -> None:
    queue_id, _, _, _ = _queues(any_synth)
    worker_id, worker = _function(any_synth, SWEEP_WORKER.handler)
    (mapping,) = [
        m["Properties"]
        for m in any_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": worker_id}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": WORKER_MAX_CONCURRENCY}
    assert "ReservedConcurrentExecutions" not in worker
    assert worker["Timeout"] == SWEEP_WORKER.timeout_s


def test_worker_role_has_the_name_member_roles_trust(any_synth: Synth) -> None:
    worker_role = _function(any_synth, SWEEP_WORKER.handler)[1]["Role"]["Fn::GetAtt"][0]
    role = any_synth.resources("AWS::IAM::Role")[worker_role]["Properties"]
    assert role["RoleName"] == f"{any_synth.stack.stack_name}-sweeper"
    assert any_synth.raw["Outputs"]["SweeperRoleArn"]["Value"] == {"Fn::GetAtt": [worker_role, "Arn"]}


def test_worker_may_assume_only_the_member_read_only_roles(default_synth: Synth, full_synth: Synth) -> None:
    for synth_result, regions in (
        (default_synth, [{"Ref": "AWS::Region"}]),
        (full_synth, ["eu-west-1", "us-east-1"]),
    ):
        expected = [
            {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/taskbeacon-sweep-reader-", region],
                ]
            }
            if isinstance(region, dict)
            else {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, f":iam::*:role/taskbeacon-sweep-reader-{region}"],
                ]
            }
            for region in regions
        ]
        statements = _role_statements(synth_result, SWEEP_WORKER.handler)
        (assume,) = [s for s in statements if "sts:AssumeRole" in _actions(s)]
        assert _actions(assume) == ["sts:AssumeRole"]
        assert assume["Resource"] == (expected if len(expected) > 1 else expected[0])
        # Nobody else assumes anything.
        for policy in synth_result.resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if statement is not assume and any(a.startswith("sts:") for a in _actions(statement)):
                    assert statement in statements, statement


def test_worker_reads_ecs_only_through_the_member_roles(any_synth: Synth) -> None:
    # Every account, the central one included, is read through its member role (infra/member.py).
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        for statement in _role_statements(any_synth, handler):
            assert not any(a.startswith("ecs:") for a in _actions(statement)), statement


def test_queue_sends_and_organization_listing(default_synth: Synth, full_synth: Synth) -> None:
    for synth_result in (default_synth, full_synth):
        queue_id, _, _, _ = _queues(synth_result)
        for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
            sends = [s for s in _role_statements(synth_result, handler) if s["Action"] == "sqs:SendMessage"]
            assert {"Fn::GetAtt": [queue_id, "Arn"]} in [s["Resource"] for s in sends]

    def lists_accounts(synth_result: Synth) -> set[str]:
        return {
            handler
            for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler)
            if any(
                "organizations:ListAccounts" in _actions(s) for s in _role_statements(synth_result, handler)
            )
        }

    # With an organization and no account list, the planner (only) lists the organization's accounts.
    assert lists_accounts(full_synth) == {SWEEP_PLANNER.handler}
    assert lists_accounts(default_synth) == set()


def test_sweep_settings_reach_both_functions_by_their_names(default_synth: Synth, full_synth: Synth) -> None:
    names = {field: ENV_NAMES[field] for field in SWEEP_ENV}
    assert set(names.values()) == {
        "SWEEP_ACCOUNTS",
        "SWEEP_REGIONS",
        "SWEEP_ROLE_NAME",
        "SWEEP_QUEUE_URL",
        "SWEEP_CALLS_PER_SECOND",
    }
    queue_id, _, _, _ = _queues(full_synth)
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        env = _function(full_synth, handler)[1]["Environment"]["Variables"]
        assert env[names["sweep_accounts"]] == ""  # the organization's accounts (ListAccounts)
        assert env[names["sweep_regions"]] == "eu-west-1,us-east-1"  # memberRegions
        assert env[names["sweep_role_name"]] == "taskbeacon-sweep-reader"
        assert env[names["sweep_queue_url"]] == {"Ref": queue_id}
        assert env[names["sweep_calls_per_second"]] == "4"
        assert env[ENV_NAMES["table_name"]]["Ref"].startswith("InventoryTable")
        # Without an organization: this account and the accounts that forward events; this region.
        env = _function(default_synth, handler)[1]["Environment"]["Variables"]
        assert env[names["sweep_accounts"]] == {"Ref": "AWS::AccountId"}
        assert env[names["sweep_regions"]] == {"Ref": "AWS::Region"}
        assert env[names["sweep_calls_per_second"]] == "5"
    # The other functions have no sweep settings.
    for fn in default_synth.resources("AWS::Lambda::Function").values():
        if not fn["Properties"]["Handler"].startswith("handlers.sweeper."):
            variables = fn["Properties"].get("Environment", {}).get("Variables", {})
            assert not set(names.values()) & variables.keys()


def test_sweep_accounts_list_is_used_as_given(lists_synth: Synth) -> None:
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        env = _function(lists_synth, handler)[1]["Environment"]["Variables"]
        assert env[ENV_NAMES["sweep_accounts"]] == "111111111111,222222222222"
        assert env[ENV_NAMES["sweep_role_name"]] == "inventory-reader"
        statements = _role_statements(lists_synth, handler)
        # An organization, but a list: nothing is listed from Organizations.
        assert not any("organizations:ListAccounts" in _actions(s) for s in statements)
