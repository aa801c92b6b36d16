"""The adoption constructs (agent sidecar, member-account event forwarder), in small stacks of their own."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from infra.agent_sidecar import CONTAINER_NAME, SnapshotsTarget, TaskBeaconAgentSidecar

pytestmark = pytest.mark.cdk

ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/snapshots"
URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/"


def _service_stack(**sidecar_options: Any) -> dict[str, Any]:
    """A service team's Fargate task with an app container, then the sidecar construct."""
    stack = cdk.Stack(cdk.App(), "ServiceStack")
    task_def = ecs.FargateTaskDefinition(stack, "TaskDef", cpu=256, memory_limit_mib=512)
    task_def.add_container("app", image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"))
    TaskBeaconAgentSidecar(
        stack,
        "Beacon",
        task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=URL, invoke_arn=ARN),
        image=ecs.ContainerImage.from_registry("example.com/taskbeacon-agent:0.1.0"),
        **sidecar_options,
    )
    return dict(Template.from_stack(stack).to_json())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _service_stack()


def _containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (task_def,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    return {c["Name"]: c for c in task_def["Properties"]["ContainerDefinitions"]}


def test_sidecar_container(template: dict[str, Any]) -> None:
    sidecar = _containers(template)[CONTAINER_NAME]
    assert sidecar["Essential"] is False
    assert sidecar["Command"] == ["sidecar"]
    assert "DependsOn" not in sidecar
    env = {e["Name"]: e["Value"] for e in sidecar["Environment"]}
    assert env == {"TASKBEACON_ENDPOINT": URL, "TASKBEACON_REGION": "eu-west-1"}
    assert sidecar["LogConfiguration"]["LogDriver"] == "awslogs"
    assert sidecar["Cpu"] == 32
    assert sidecar["Memory"] == 64
    assert sidecar["ReadonlyRootFilesystem"] is True


def test_only_the_sidecar_was_added(template: dict[str, Any]) -> None:
    assert set(_containers(template)) == {"app", CONTAINER_NAME}
    # Only the app waits for the agent; the agent itself waits for nothing (it can never block).
    waits = {n: c.get("DependsOn") for n, c in _containers(template).items()}
    assert waits == {"app": [{"ContainerName": CONTAINER_NAME, "Condition": "START"}], CONTAINER_NAME: None}


def test_app_containers_start_after_the_agent(template: dict[str, Any]) -> None:
    app = _containers(template)["app"]
    assert app["DependsOn"] == [{"ContainerName": CONTAINER_NAME, "Condition": "START"}]
    assert app["Essential"] is True


def test_task_role_may_post_snapshots_only(template: dict[str, Any]) -> None:
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    # The execution role's policy (image pull, logs) is ECS's, not the task's identity.
    (policy,) = [p for p in policies if "TaskRole" in p["Properties"]["Roles"][0]["Ref"]]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}
    ]
    # Exactly one method on one resource path: POST /snapshots, no wildcard that admits the queries.
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    resource = statement["Resource"]
    assert isinstance(resource, str) and resource.endswith("/POST/snapshots") and "*" not in resource


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/*/snapshots",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/POST/snapshots",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/GET/snapshots",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/snapshots/extra",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/tasks",
        "arn:aws:lambda:eu-west-1:123456789012:function/POST/snapshots",
    ],
)
def test_literal_invoke_arn_must_be_post_snapshots(arn: str) -> None:
    with pytest.raises(ValueError, match="POST /snapshots"):
        SnapshotsTarget(endpoint_url=URL, invoke_arn=arn)


def test_literal_post_snapshots_arn_and_tokens_are_accepted() -> None:
    assert SnapshotsTarget(endpoint_url=URL, invoke_arn=ARN).invoke_arn == ARN
    stack = cdk.Stack(cdk.App(), "TokenStack")
    token_arn = stack.format_arn(
        service="execute-api", resource=cdk.Fn.import_value("ApiId"), resource_name="v1/POST/snapshots"
    )
    assert cdk.Token.is_unresolved(token_arn)
    assert SnapshotsTarget(endpoint_url=URL, invoke_arn=token_arn).invoke_arn == token_arn


def test_from_rest_api_targets_post_snapshots() -> None:
    from aws_cdk import aws_apigateway as apigw

    stack = cdk.Stack(cdk.App(), "ApiStack")
    api = apigw.RestApi(stack, "Api", deploy_options=apigw.StageOptions(stage_name="v1"))
    api.root.add_method("GET")
    target = SnapshotsTarget.from_rest_api(api)
    resolved = stack.resolve(target.invoke_arn)
    parts = resolved["Fn::Join"][1]
    assert parts[-1] == "/POST/snapshots"
    stage = api.deployment_stage.node.default_child
    assert isinstance(stage, cdk.CfnElement)
    assert parts[-2] == {"Ref": stack.get_logical_id(stage)}


def test_member_account_forwarder_targets_the_bus() -> None:
    from infra.events import TaskStateEventsForwarder

    stack = cdk.Stack(cdk.App(), "MemberStack")
    bus_arn = "arn:aws:events:eu-west-1:123456789012:event-bus/taskbeacon"
    TaskStateEventsForwarder(stack, "Forward", bus_arn=bus_arn)
    template = Template.from_stack(stack).to_json()
    (rule,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == bus_arn
    assert "RoleArn" in target


def test_keepalive_follows_the_apis_setting_and_is_bounded() -> None:
    def sidecar_command(**options: Any) -> list[str]:
        return list(_containers(_service_stack(**options))[CONTAINER_NAME]["Command"])

    assert sidecar_command(keepalive_seconds=300) == ["sidecar", "--keepalive", "300"]
    for bad in (0, 29, 86_401):
        with pytest.raises(ValueError, match="keepalive_seconds"):
            sidecar_command(keepalive_seconds=bad)
