"""The sweep's infrastructure (infra/sweep.py): schedule, run after deploy, asynchronous invocations (no
polled queue), worker, roles, settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_synth import Synth

from infra.functions import SWEEP_PLANNER, SWEEP_WORKER
from infra.paths import environment
from infra.sweep import WORKER_MAX_CONCURRENCY

pytestmark = pytest.mark.cdk

ENV_NAMES = environment.ENV_NAMES
SWEEP_ENV = (
    "sweep_accounts",
    "sweep_regions",
    "sweep_role_name",
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


def _events_dead_letters(synth_result: Synth) -> str:
    ((queue_id, _),) = [
        (k, q) for k, q in synth_result.resources("AWS::SQS::Queue").items() if k.startswith("EventsDlq")
    ]
    return queue_id


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
    # After what the sweep needs: the worker (with its async config), its role's policies.
    worker_id, _ = _function(default_synth, SWEEP_WORKER.handler)
    (config_id,) = [
        k
        for k, c in default_synth.resources("AWS::Lambda::EventInvokeConfig").items()
        if c["Properties"]["FunctionName"] == {"Ref": worker_id}
    ]
    assert {worker_id, config_id} <= set(trigger["DependsOn"])
    assert any(d.startswith("FunctionsSweepWorkerRoleDefaultPolicy") for d in trigger["DependsOn"])
    assert any(d.startswith("SweepWorkerContinues") for d in trigger["DependsOn"])


def test_no_queue_is_polled_for_the_sweep(any_synth: Synth) -> None:
    """The worker is invoked asynchronously: no event source mapping (whose pollers would bill empty
    receives all month), no sweep queue and no dead-letter queue of its own."""
    worker_id, _ = _function(any_synth, SWEEP_WORKER.handler)
    assert not [
        m
        for m in any_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": worker_id}
    ]
    assert not [k for k in any_synth.resources("AWS::SQS::Queue") if k.startswith("Sweep")]


def test_failed_units_go_to_the_events_dead_letters(any_synth: Synth) -> None:
    worker_id, _ = _function(any_synth, SWEEP_WORKER.handler)
    ((_, config),) = [
        (k, c["Properties"])
        for k, c in any_synth.resources("AWS::Lambda::EventInvokeConfig").items()
        if c["Properties"]["FunctionName"] == {"Ref": worker_id}
    ]
    dlq_id = _events_dead_letters(any_synth)
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}}
    sends = [s for s in _role_statements(any_synth, SWEEP_WORKER.handler) if "sqs:SendMessage" in _actions(s)]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [dlq_id, "Arn"]}]
    # A planning run that failed lands there too.
    planner = _function(any_synth, SWEEP_PLANNER.handler)[1]
    assert planner["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}


def test_worker_concurrency_is_reserved(any_synth: Synth) -> None:
    _, worker = _function(any_synth, SWEEP_WORKER.handler)
    assert worker["ReservedConcurrentExecutions"] == WORKER_MAX_CONCURRENCY == 50
    assert worker["Timeout"] == SWEEP_WORKER.timeout_s
    # Only the worker reserves any.
    for fn in any_synth.resources("AWS::Lambda::Function").values():
        if fn["Properties"].get("Handler") != SWEEP_WORKER.handler:
            assert "ReservedConcurrentExecutions" not in fn["Properties"]


def test_the_planner_invokes_the_worker_and_the_worker_itself_only(any_synth: Synth) -> None:
    worker_id, _ = _function(any_synth, SWEEP_WORKER.handler)
    worker_arn = {"Fn::GetAtt": [worker_id, "Arn"]}
    invokes: dict[str, list[Any]] = {}
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        invokes[handler] = [
            s["Resource"]
            for s in _role_statements(any_synth, handler)
            if any(a.startswith("lambda:") for a in _actions(s))
        ]
        assert invokes[handler] == [worker_arn], handler
        for statement in _role_statements(any_synth, handler):
            if any(a.startswith("lambda:") for a in _actions(statement)):
                assert _actions(statement) == ["lambda:InvokeFunction"]
    # The worker's own grant is in a policy of its own (its default policy naming its ARN would be a
    # circular dependency: the function depends on that policy).
    worker_role = _function(any_synth, SWEEP_WORKER.handler)[1]["Role"]["Fn::GetAtt"][0]
    (policy_id,) = [
        k
        for k, p in any_synth.resources("AWS::IAM::Policy").items()
        if {"Ref": worker_role} in p["Properties"]["Roles"]
        and any(
            "lambda:InvokeFunction" in _actions(s) for s in p["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert policy_id.startswith("SweepWorkerContinues")
    assert policy_id not in any_synth.raw["Resources"][worker_id].get("DependsOn", [])
    # No other function may invoke the worker.
    for fn in any_synth.resources("AWS::Lambda::Function").values():
        handler = fn["Properties"].get("Handler")
        if handler in invokes:
            continue
        role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for p in any_synth.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in p["Properties"]["Roles"]:
                assert worker_id not in json.dumps(p["Properties"]["PolicyDocument"])


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


def test_organization_listing(default_synth: Synth, full_synth: Synth) -> None:
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
        "SWEEP_CALLS_PER_SECOND",
    }
    # The worker's ARN, for the planner only (the worker's own would be a circular dependency; it
    # reads it from its context).
    worker_id, _ = _function(full_synth, SWEEP_WORKER.handler)
    planner_env = _function(full_synth, SWEEP_PLANNER.handler)[1]["Environment"]["Variables"]
    assert ENV_NAMES["sweep_worker_function"] == "SWEEP_WORKER_FUNCTION"
    assert planner_env["SWEEP_WORKER_FUNCTION"] == {"Fn::GetAtt": [worker_id, "Arn"]}
    worker_env = _function(full_synth, SWEEP_WORKER.handler)[1]["Environment"]["Variables"]
    assert "SWEEP_WORKER_FUNCTION" not in worker_env
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        env = _function(full_synth, handler)[1]["Environment"]["Variables"]
        assert env[names["sweep_accounts"]] == ""  # the organization's accounts (ListAccounts)
        assert env[names["sweep_regions"]] == "eu-west-1,us-east-1"  # memberRegions
        assert env[names["sweep_role_name"]] == "taskbeacon-sweep-reader"
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
            assert not {*names.values(), "SWEEP_WORKER_FUNCTION"} & variables.keys()


def test_sweep_accounts_list_is_used_as_given(lists_synth: Synth) -> None:
    for handler in (SWEEP_PLANNER.handler, SWEEP_WORKER.handler):
        env = _function(lists_synth, handler)[1]["Environment"]["Variables"]
        assert env[ENV_NAMES["sweep_accounts"]] == "111111111111,222222222222"
        assert env[ENV_NAMES["sweep_role_name"]] == "inventory-reader"
        statements = _role_statements(lists_synth, handler)
        # An organization, but a list: nothing is listed from Organizations.
        assert not any("organizations:ListAccounts" in _actions(s) for s in statements)
