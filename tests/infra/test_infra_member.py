"""The member template (infra/member.py): event forwarding and the sweep's read-only role, one template
for every account and region, and the StackSet that rolls it out (infra/stackset.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_synth import Synth

from infra.events import task_state_change_pattern
from infra.member import (
    CENTRAL_BUS_ARN,
    CENTRAL_SWEEPER_ROLE_ARN,
    DRIFT_ACTIONS,
    FORWARD_CONDITION,
    READ_ONLY_ACTIONS,
    SWEEP_ACTIONS,
)
from infra.stackset import TEMPLATE_BODY_MAX_BYTES, template_body

pytestmark = pytest.mark.cdk

CENTRAL_ACCOUNT = "123456789012"
CENTRAL_REGION = "eu-west-1"
BUS_ARN = (
    f"arn:aws:events:{CENTRAL_REGION}:{CENTRAL_ACCOUNT}:event-bus/TaskBeaconTaskEventsCrossAccountBus1A2B3C"
)
SWEEPER_ARN = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/TaskBeacon-sweeper"


def _one(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    ((key, resource),) = resources.items()
    return key, resource


def _policy_of(synth_result: Synth, role_id: str) -> dict[str, Any]:
    (policy,) = [
        p
        for p in synth_result.member_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    return policy


def _roles(synth_result: Synth) -> dict[str, dict[str, Any]]:
    return synth_result.member_resources("AWS::IAM::Role")


def _forward_role_id(synth_result: Synth) -> str:
    (role_id,) = [k for k, r in _roles(synth_result).items() if "RoleName" not in r["Properties"]]
    return role_id


def _reader_role(synth_result: Synth) -> tuple[str, dict[str, Any]]:
    ((role_id, role),) = [(k, r) for k, r in _roles(synth_result).items() if "RoleName" in r["Properties"]]
    return role_id, role


# --- one template for every account and region --------------------------------------------------


def test_member_template_takes_two_parameters_and_needs_no_bootstrap(any_synth: Synth) -> None:
    template = any_synth.member_raw
    parameters = template["Parameters"]
    assert set(parameters) == {CENTRAL_BUS_ARN, CENTRAL_SWEEPER_ROLE_ARN}  # no BootstrapVersion, no asset
    assert all(p["Type"] == "String" for p in parameters.values())
    # Without a bus (no organization, no eventBusAccounts) the member stack adds the read-only role only.
    assert parameters[CENTRAL_BUS_ARN]["Default"] == ""
    assert re.fullmatch(parameters[CENTRAL_BUS_ARN]["AllowedPattern"], "")
    assert "Default" not in parameters[CENTRAL_SWEEPER_ROLE_ARN]
    # CloudFormation checks the shapes before creating anything (these simple patterns read the same
    # in Java's regex dialect).
    assert re.fullmatch(parameters[CENTRAL_BUS_ARN]["AllowedPattern"], BUS_ARN)
    assert re.fullmatch(parameters[CENTRAL_SWEEPER_ROLE_ARN]["AllowedPattern"], SWEEPER_ARN)
    assert not re.fullmatch(parameters[CENTRAL_SWEEPER_ROLE_ARN]["AllowedPattern"], "arn:aws:iam::1:user/x")
    assert "Rules" not in template  # no CheckBootstrapVersion rule
    assert "CDKMetadata" not in template["Resources"]
    # Deployed with the CLI's own credentials: no bootstrap roles, no staging bucket.
    manifest = json.loads((any_synth.outdir / "manifest.json").read_text())
    properties = manifest["artifacts"][any_synth.member.stack_name]["properties"]
    assert not {"assumeRoleArn", "cloudFormationExecutionRoleArn", "requiresBootstrapStackVersion"} & set(
        properties
    )
    assets = any_synth.outdir / f"{any_synth.member.stack_name}.assets.json"
    assert not assets.exists() or not json.loads(assets.read_text()).get("files")
    assert any_synth.member.stack_name == f"{any_synth.stack.stack_name}Member"


def test_member_template_fits_a_stack_set_body(any_synth: Synth) -> None:
    assert len(template_body(any_synth.member_raw).encode()) < TEMPLATE_BODY_MAX_BYTES
    with pytest.raises(ValueError, match="51200"):
        template_body({"Description": "x" * TEMPLATE_BODY_MAX_BYTES})


# --- event forwarding ---------------------------------------------------------------------------


def test_forwarding_rule_sends_the_central_rules_events_to_the_central_bus(any_synth: Synth) -> None:
    _, rule = _one(any_synth.member_resources("AWS::Events::Rule"))
    props = rule["Properties"]
    assert "EventBusName" not in props  # the member account's default bus, where ECS sends its events
    # The very pattern of the central rules (STOPPED, and RUNNING while desired RUNNING).
    (central,) = [
        r["Properties"]["EventPattern"]
        for k, r in any_synth.resources("AWS::Events::Rule").items()
        if k.startswith("TaskEventsTaskStateChange")
    ]
    assert props["EventPattern"] == central
    assert props["EventPattern"]["detail"] == task_state_change_pattern().detail
    # STOPPED, and RUNNING only while ECS wants it running: the stop's announcement is dropped.
    assert task_state_change_pattern().detail == {
        "$or": [{"lastStatus": ["STOPPED"]}, {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]}]
    }
    (target,) = props["Targets"]
    role_id = _forward_role_id(any_synth)
    assert target["Arn"] == {"Ref": CENTRAL_BUS_ARN}
    assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}  # required for another account/region


def test_forwarding_role_may_only_put_events_on_the_central_bus(any_synth: Synth) -> None:
    role_id = _forward_role_id(any_synth)
    role = _roles(any_synth)[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    (statement,) = _policy_of(any_synth, role_id)["Properties"]["PolicyDocument"]["Statement"]
    assert statement == {
        "Action": "events:PutEvents",
        "Effect": "Allow",
        "Resource": {"Ref": CENTRAL_BUS_ARN},
    }


def _evaluate(node: Any, refs: dict[str, str], conditions: dict[str, Any]) -> Any:
    """The few intrinsic functions the member's condition uses, evaluated as CloudFormation would."""
    if isinstance(node, dict):
        ((name, args),) = node.items()
        if name == "Ref":
            return refs[args]
        if name == "Condition":
            return _evaluate(conditions[args], refs, conditions)
        values = [
            [_evaluate(v, refs, conditions) for v in a]
            if isinstance(a, list)
            else _evaluate(a, refs, conditions)
            for a in args
        ]
        functions = {
            "Fn::Join": lambda: values[0].join(values[1]),
            "Fn::Split": lambda: values[1].split(values[0]),
            "Fn::Select": lambda: values[1][int(values[0])],
            "Fn::Equals": lambda: values[0] == values[1],
            "Fn::And": lambda: all(values),
            "Fn::Not": lambda: not values[0],
        }
        return functions[name]()
    return node


@pytest.mark.parametrize(
    ("account", "region", "forwards"),
    [
        ("210987654321", CENTRAL_REGION, True),  # another account, same region
        ("210987654321", "us-east-1", True),  # another account and region
        (CENTRAL_ACCOUNT, "us-east-1", True),  # the central account's other regions
        (CENTRAL_ACCOUNT, CENTRAL_REGION, False),  # the central stack's own rule already has them
        ("", CENTRAL_REGION, False),  # no bus given: nothing to forward to
    ],
)
def test_forwarding_is_left_out_where_the_central_rule_already_listens(
    default_synth: Synth, account: str, region: str, forwards: bool
) -> None:
    template = default_synth.member_raw
    refs = {CENTRAL_BUS_ARN: BUS_ARN if account else "", "AWS::AccountId": account or CENTRAL_ACCOUNT}
    refs["AWS::Region"] = region
    assert _evaluate(template["Conditions"][FORWARD_CONDITION], refs, template["Conditions"]) is forwards
    role_id = _forward_role_id(default_synth)
    conditional = {
        k: r.get("Condition") for k, r in template["Resources"].items() if not k.startswith("SweepReader")
    }
    # The rule, its role and the role's policy, all under the condition; the read-only role everywhere.
    assert set(conditional.values()) == {FORWARD_CONDITION} and role_id in conditional
    assert all("Condition" not in r for k, r in template["Resources"].items() if k.startswith("SweepReader"))


# --- the sweep's read-only role -----------------------------------------------------------------


def test_read_only_role_is_named_per_region(any_synth: Synth) -> None:
    _, role = _reader_role(any_synth)
    assert role["Properties"]["RoleName"] == {
        "Fn::Join": ["", [f"{any_synth.stack.config.sweep_role_name}-", {"Ref": "AWS::Region"}]]
    }
    # What the sweeper assumes: arn:<partition>:iam::<member>:role/taskbeacon-sweep-reader-<region>.
    assert any_synth.stack.config.sweep_role_name == "taskbeacon-sweep-reader"


def test_read_only_role_may_only_list_and_describe_ecs_in_its_own_region(any_synth: Synth) -> None:
    role_id, role = _reader_role(any_synth)
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
    (statement,) = _policy_of(any_synth, role_id)["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == [
        "ecs:ListClusters",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "ecs:ListServiceDeployments",
        "ecs:DescribeServiceRevisions",
        "ecs:DescribeServices",
    ]
    assert tuple(statement["Action"]) == READ_ONLY_ACTIONS == (*SWEEP_ACTIONS, *DRIFT_ACTIONS)
    assert all(re.fullmatch(r"ecs:(List|Describe)\w+", a) for a in statement["Action"])
    assert statement["Resource"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}


def test_read_only_role_trusts_only_the_central_sweeper_role(default_synth: Synth, full_synth: Synth) -> None:
    for synth_result, conditions in (
        (default_synth, None),
        # With an organization, the caller must also be in it.
        (full_synth, {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def456"}}),
    ):
        _, role = _reader_role(synth_result)
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
        # One exact role ARN (the parameter): not an account root, not a wildcard, not a service.
        assert statement["Principal"] == {"AWS": {"Ref": CENTRAL_SWEEPER_ROLE_ARN}}
        assert statement.get("Condition") == conditions
        assert role["Properties"]["MaxSessionDuration"] == 3600


# --- the StackSet ---------------------------------------------------------------------------------


def _stack_set(synth_result: Synth) -> dict[str, Any]:
    _, stack_set = _one(synth_result.resources("AWS::CloudFormation::StackSet"))
    return dict(stack_set["Properties"])


def test_no_stack_set_without_organizational_units(default_synth: Synth) -> None:
    assert default_synth.resources("AWS::CloudFormation::StackSet") == {}


def test_stack_set_rolls_the_member_template_out_to_the_organization(full_synth: Synth) -> None:
    props = _stack_set(full_synth)
    assert props["StackSetName"] == "TaskBeaconFull-member"
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["CallAs"] == "DELEGATED_ADMIN"
    assert props["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert props["OperationPreferences"] == {
        "RegionConcurrencyType": "PARALLEL",
        "FailureTolerancePercentage": 10,
        "MaxConcurrentPercentage": 25,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
    }
    assert props["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {"OrganizationalUnitIds": ["ou-ab12-cdef3456", "r-ab12"]},
            "Regions": ["eu-west-1", "us-east-1"],
        }
    ]
    (bus_id,) = full_synth.central_buses()
    (worker_role,) = [
        k
        for k, r in full_synth.resources("AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == "TaskBeaconFull-sweeper"
    ]
    assert props["Parameters"] == [
        {"ParameterKey": CENTRAL_BUS_ARN, "ParameterValue": {"Fn::GetAtt": [bus_id, "Arn"]}},
        {"ParameterKey": CENTRAL_SWEEPER_ROLE_ARN, "ParameterValue": {"Fn::GetAtt": [worker_role, "Arn"]}},
    ]
    assert "TemplateURL" not in props


def test_stack_set_body_is_the_member_stacks_template(full_synth: Synth) -> None:
    body = _stack_set(full_synth)["TemplateBody"]
    assert isinstance(body, str) and len(body.encode()) < TEMPLATE_BODY_MAX_BYTES
    assert json.loads(body) == full_synth.member_raw


def test_stack_set_body_equals_the_member_stack_as_the_cli_synthesizes_it(lists_synth: Synth) -> None:
    member = lists_synth.member_raw
    paths = [r.get("Metadata", {}).get("aws:cdk:path") for r in member["Resources"].values()]
    assert all(p and p.startswith("TaskBeaconListsMember/") for p in paths)
    assert json.loads(_stack_set(lists_synth)["TemplateBody"]) == member
    _, role = _reader_role(lists_synth)
    assert role["Properties"]["RoleName"]["Fn::Join"][1][0] == "inventory-reader-"


def test_sweep_after_deploy_waits_for_the_stack_set(full_synth: Synth) -> None:
    (stack_set_id,) = full_synth.resources("AWS::CloudFormation::StackSet")
    _, trigger = _one(full_synth.resources("Custom::Trigger"))
    assert stack_set_id in trigger["DependsOn"]


def test_member_template_file_is_what_a_stack_set_takes(full_synth: Synth) -> None:
    """`cdk.out/<stackName>Member.template.json` is the same JSON as the StackSet's body, so a platform
    team can also create the StackSet by hand (`aws cloudformation create-stack-set --template-body
    file://...`)."""
    written = json.loads((full_synth.outdir / f"{full_synth.member.stack_name}.template.json").read_text())
    assert written == json.loads(_stack_set(full_synth)["TemplateBody"])
