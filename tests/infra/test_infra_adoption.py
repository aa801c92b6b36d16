"""The adoption constructs (agent sidecar, member-account event forwarder), in small stacks of their own."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match, Template

from infra.agent_sidecar import (
    CONTAINER_NAME,
    AgentImage,
    SnapshotsTarget,
    TaskBeaconAgentSidecar,
    grant_organization_pull,
)

pytestmark = pytest.mark.cdk

ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/v1/POST/snapshots"
URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/"
# The agent image in a tooling account's repository (shared with the organization).
REPO_ARN = "arn:aws:ecr:eu-west-1:999988887777:repository/taskbeacon-agent"
DIGEST = "sha256:" + "ab" * 32


def _service_stack(*, image: str = "ecr", after: bool = False, **sidecar_options: Any) -> dict[str, Any]:
    """A service team's Fargate task with an app container, then the sidecar construct (and, with
    `after`, one more app container added after it)."""
    stack = cdk.Stack(cdk.App(), "ServiceStack")
    task_def = ecs.FargateTaskDefinition(stack, "TaskDef", cpu=256, memory_limit_mib=512)
    task_def.add_container("app", image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"))
    if image == "ecr":
        agent_image = AgentImage.from_ecr_repository(
            ecr.Repository.from_repository_arn(stack, "AgentRepo", REPO_ARN), DIGEST
        )
    else:
        agent_image = AgentImage.from_asset()
    TaskBeaconAgentSidecar(
        stack,
        "Beacon",
        task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=URL, invoke_arn=ARN),
        image=agent_image,
        **sidecar_options,
    )
    if after:
        task_def.add_container(
            "late", image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27")
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
    assert sidecar["Command"] == ["sidecar"]  # the agent's own 12-24 h keepalive, not overridden
    assert "DependsOn" not in sidecar
    env = {e["Name"]: e["Value"] for e in sidecar["Environment"]}
    assert env == {"TASKBEACON_ENDPOINT": URL, "TASKBEACON_REGION": "eu-west-1"}
    assert sidecar["LogConfiguration"]["LogDriver"] == "awslogs"
    assert sidecar["Cpu"] == 32
    assert sidecar["Memory"] == 64
    assert sidecar["ReadonlyRootFilesystem"] is True


def test_only_the_sidecar_was_added(template: dict[str, Any]) -> None:
    assert set(_containers(template)) == {"app", CONTAINER_NAME}
    assert _containers(template)["app"]["Essential"] is True


@pytest.mark.parametrize("after", [False, True])
def test_no_container_waits_on_the_agent(after: bool) -> None:
    """Once the task runs, an agent that fails or exits holds nothing back. (An image that cannot be
    pulled does stop the task: ECS pulls every image first; see the deploy-time check below.)"""
    containers = _containers(_service_stack(after=after))
    assert set(containers) == {"app", CONTAINER_NAME} | ({"late"} if after else set())
    assert {name: c.get("DependsOn") for name, c in containers.items()} == dict.fromkeys(containers)
    assert containers[CONTAINER_NAME]["Essential"] is False


def _execution_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (task_def,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    role = task_def["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    return [
        statement
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_execution_role_may_pull_the_agent_image(template: dict[str, Any]) -> None:
    statements = _execution_statements(template)
    pull = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
    assert pull == [
        {
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Effect": "Allow",
            "Resource": REPO_ARN,  # that repository only
        }
    ]
    token = [s for s in statements if s["Action"] == "ecr:GetAuthorizationToken"]
    assert token == [{"Action": "ecr:GetAuthorizationToken", "Effect": "Allow", "Resource": "*"}]
    # The repository's own account and region, whichever account the task runs in, by the digest
    # the deploy-time check read from ECR's answer (so no check, no task definition).
    (check_id,) = _resources(template, "Custom::TaskBeaconAgentImageCheck")
    assert _containers(template)[CONTAINER_NAME]["Image"] == {
        "Fn::Join": [
            "",
            [
                "999988887777.dkr.ecr.eu-west-1.",
                {"Ref": "AWS::URLSuffix"},
                "/taskbeacon-agent@",
                {"Fn::GetAtt": [check_id, "images.0.imageId.imageDigest"]},
            ],
        ]
    }


def _resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_name}


def test_deploy_fails_when_the_execution_role_cannot_pull_the_digest(template: dict[str, Any]) -> None:
    """The check calls ecr:BatchGetImage for the digest as the execution role: AWS refuses the call
    when the role's IAM or the repository policy would refuse the pull, and a missing digest leaves
    the answer without images.0.imageId.imageDigest, which the container's image reads."""
    ((check_id, check),) = _resources(template, "Custom::TaskBeaconAgentImageCheck").items()
    create = json.loads(_joined(check["Properties"]["Create"]))
    assert create["service"] == "ECR" and create["action"] == "batchGetImage"
    assert create["parameters"]["imageIds"] == [{"imageDigest": DIGEST}]
    assert create["parameters"]["registryId"] == "999988887777"
    assert create["parameters"]["repositoryName"] == "taskbeacon-agent"
    assert "application/vnd.oci.image.index.v1+json" in create["parameters"]["acceptedMediaTypes"]
    assert create["outputPaths"] == ["images.0.imageId.imageDigest"]
    assert create["assumedRoleArn"] == "EXECUTION_ROLE_ARN"
    assert json.loads(_joined(check["Properties"]["Update"])) == create
    # The execution role trusts ECS tasks, and the check's role besides (nothing else).
    (task_def,) = _resources(template, "AWS::ECS::TaskDefinition").values()
    role_id = task_def["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    principals = sorted(json.dumps(s["Principal"], sort_keys=True) for s in trust)
    assert len(trust) == 2 and all(s["Action"] == "sts:AssumeRole" for s in trust)
    assert '{"Service": "ecs-tasks.amazonaws.com"}' in principals
    checker_role = next(s["Principal"]["AWS"]["Fn::GetAtt"][0] for s in trust if "AWS" in s["Principal"])
    assert template["Resources"][checker_role]["Type"] == "AWS::IAM::Role"
    # The task definition waits for the check: it reads the check's answer.
    assert check_id in json.dumps(task_def)


def _joined(value: Any) -> str:
    """A Fn::Join of literal strings and the execution role's ARN, as one string."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "EXECUTION_ROLE_ARN" for p in parts)


def test_an_imported_execution_role_is_checked_as_far_as_it_can_be() -> None:
    stack = cdk.Stack(cdk.App(), "ImportedRole")
    role = iam.Role.from_role_arn(stack, "Exec", "arn:aws:iam::123456789012:role/exec", mutable=False)
    task_def = ecs.FargateTaskDefinition(stack, "TaskDef", execution_role=role)
    task_def.add_container("app", image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"))
    repo = ecr.Repository.from_repository_arn(stack, "AgentRepo", REPO_ARN)
    TaskBeaconAgentSidecar(
        stack,
        "Beacon",
        task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=URL, invoke_arn=ARN),
        image=AgentImage.from_ecr_repository(repo, DIGEST),
    )
    template = dict(Template.from_stack(stack).to_json())
    (check,) = _resources(template, "Custom::TaskBeaconAgentImageCheck").values()
    assert "assumedRoleArn" not in _joined(check["Properties"]["Create"])
    warnings = list(Annotations.from_stack(stack).find_warning("*", Match.any_value()))
    assert any("execution role is imported" in str(w.entry.data) for w in warnings)


def test_image_asset_is_pulled_with_a_grant_too() -> None:
    template = _service_stack(image="asset")
    statements = _execution_statements(template)
    assert any("ecr:BatchGetImage" in s["Action"] for s in statements)
    assert any(s["Action"] == "ecr:GetAuthorizationToken" for s in statements)


def test_a_bare_registry_image_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "BareStack")
    task_def = ecs.FargateTaskDefinition(stack, "TaskDef")
    with pytest.raises(TypeError, match="AgentImage"):
        TaskBeaconAgentSidecar(
            stack,
            "Beacon",
            task_definition=task_def,
            target=SnapshotsTarget(endpoint_url=URL, invoke_arn=ARN),
            image=ecs.ContainerImage.from_registry("example.com/taskbeacon-agent:0.1.0"),  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("tag", ["0.1.0", "latest", "", "a b", "x" * 129, "sha256:abc", "sha256:" + "A" * 64])
def test_anything_but_a_digest_is_refused(tag: str) -> None:
    stack = cdk.Stack(cdk.App(), "TagStack")
    repo = ecr.Repository.from_repository_arn(stack, "Repo", REPO_ARN)
    with pytest.raises(ValueError, match="pinned by digest"):
        AgentImage.from_ecr_repository(repo, tag)
    AgentImage.from_ecr_repository(repo, "sha256:" + "0" * 64)  # a digest is fine


def test_organization_pull_policy_on_the_repository() -> None:
    stack = cdk.Stack(cdk.App(), "ToolingStack")
    repo = ecr.Repository(stack, "AgentRepo", repository_name="taskbeacon-agent")
    grant_organization_pull(repo, "o-abc123def456")
    (repository,) = [
        r
        for r in Template.from_stack(stack).to_json()["Resources"].values()
        if r["Type"] == "AWS::ECR::Repository"
    ]
    assert repository["Properties"]["RepositoryPolicyText"]["Statement"] == [
        {
            "Sid": "TaskBeaconAgentPullFromOrganization",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def456"}},
        }
    ]
    with pytest.raises(ValueError, match="organization_id"):
        grant_organization_pull(repo, "my-org")


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
        "detail": {
            "$or": [{"lastStatus": ["STOPPED"]}, {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]}]
        },  # forwards (and pays for) only what is used
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
