"""Adopt the agent: add the taskbeacon sidecar to a task definition and let the task report itself.

Usage in a service team's stack (same or other account; the ARN is the stack output
`SnapshotsInvokeArn`, the URL the output `ApiUrl`):

    repo = ecr.Repository.from_repository_arn(
        self, "AgentRepo", "arn:aws:ecr:eu-west-1:123456789012:repository/taskbeacon-agent")
    TaskBeaconAgentSidecar(self, "Beacon", task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=url, invoke_arn=arn),
        image=AgentImage.from_ecr_repository(repo, "0.1.0"))

The image comes from an ECR repository (and tag or digest) or from an image asset built from
`agent/Dockerfile` (`AgentImage.from_asset`); either way the task's *execution role* is granted the
pull (`ecr:GetAuthorizationToken`, and `ecr:BatchCheckLayerAvailability`, `ecr:GetDownloadUrlForLayer`,
`ecr:BatchGetImage` on that repository only). A bare registry name cannot be granted and is refused.

Cross-account, for a whole organization: the repository lives in one account (say a tooling
account) and its *repository policy* lets every account of the organization pull, which
`grant_organization_pull(repository, "o-...")` adds in the repository owner's stack:

    {"Sid": "TaskBeaconAgentPullFromOrganization", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-..."}}}

Cross-account pulls need both sides: that policy, and the execution role's own grant, which this
construct adds. Pull from a repository in the task's region (ECR replication can copy it to each
region), or every task start pays a cross-region pull.

The agent container is not essential and no container depends on it (nor it on them): whatever
happens to the agent or its image, the app containers start and run as if it were not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.paths import REPO_ROOT

CONTAINER_NAME: Final = "taskbeacon-agent"
# What a pull needs on the repository (ecr:GetAuthorizationToken is account-wide, on "*").
PULL_ACTIONS: Final = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
)
_TAG: Final = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64})$")
_ORG_ID: Final = re.compile(r"^o-[a-z0-9]{10,32}$")


@dataclass(frozen=True)
class SnapshotsTarget:
    """Where the agent reports: the stage URL and the execute-api ARN of `POST /snapshots`."""

    endpoint_url: str
    invoke_arn: str

    def __post_init__(self) -> None:
        # A token (e.g. from_rest_api in the same app) is checked by construction; a literal ARN is
        # what a service team pastes, and a wildcard or another route would let tasks query the API.
        if cdk.Token.is_unresolved(self.invoke_arn):
            return
        arn = self.invoke_arn
        if "*" in arn or not arn.endswith("/POST/snapshots") or ":execute-api:" not in arn:
            raise ValueError(
                "invoke_arn must be the execute-api ARN of POST /snapshots with no wildcard "
                "(arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/POST/snapshots, the "
                f"stack output SnapshotsInvokeArn), got {arn!r}"
            )

    @classmethod
    def from_rest_api(cls, api: apigw.RestApi) -> SnapshotsTarget:
        stage = api.deployment_stage.stage_name
        return cls(endpoint_url=api.url, invoke_arn=api.arn_for_execute_api("POST", "/snapshots", stage))


class AgentImage:
    """The agent's image, always in ECR, so that the task's execution role can be granted the pull."""

    def __init__(self, image: ecs.ContainerImage, description: str) -> None:
        self.container_image = image
        self.description = description

    @classmethod
    def from_ecr_repository(cls, repository: ecr.IRepository, tag: str) -> AgentImage:
        """An image pushed to `repository` (any account: see the module docs), by tag or `sha256:` digest."""
        if not cdk.Token.is_unresolved(tag) and not _TAG.fullmatch(tag):
            raise ValueError(f"tag must be an ECR image tag or a sha256:<64 hex> digest, got {tag!r}")
        return cls(ecs.ContainerImage.from_ecr_repository(repository, tag), f"ecr:{tag}")

    @classmethod
    def from_asset(
        cls, directory: str | None = None, *, platform: ecr_assets.Platform | None = None
    ) -> AgentImage:
        """Build `agent/Dockerfile` (the default directory) as an image asset. CDK builds and pushes
        it to the bootstrap ECR repository at deploy time (that needs Docker; synth does not).
        `platform` must match the task's CPU architecture (Fargate's default is linux/amd64)."""
        source = directory or str(REPO_ROOT / "agent")
        return cls(ecs.ContainerImage.from_asset(source, platform=platform), "asset")

    @classmethod
    def from_docker_image_asset(cls, asset: ecr_assets.DockerImageAsset) -> AgentImage:
        return cls(ecs.ContainerImage.from_docker_image_asset(asset), "asset")


def grant_organization_pull(
    repository: ecr.IRepository, organization_id: str
) -> iam.AddToResourcePolicyResult:
    """In the repository owner's stack: let every principal of the organization pull the agent image.

    The pulling side still needs its own grant (TaskBeaconAgentSidecar gives the execution role one).
    """
    if not _ORG_ID.fullmatch(organization_id):
        raise ValueError(f"organization_id must be an AWS Organization id (o-...), got {organization_id!r}")
    return repository.add_to_resource_policy(
        iam.PolicyStatement(
            sid="TaskBeaconAgentPullFromOrganization",
            principals=[iam.AnyPrincipal()],
            actions=list(PULL_ACTIONS),
            conditions={"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        )
    )


class TaskBeaconAgentSidecar(Construct):
    """A non-essential `sidecar` container plus `execute-api:Invoke` on `POST /snapshots` only.

    No container depends on the agent and the agent depends on none: the app starts whether or not
    the agent's image can be pulled or the agent starts, and an agent that exits never stops the
    task. Its final snapshot on SIGTERM may go out before the app containers have exited; their exit
    codes arrive with ECS's STOPPED event, which the events function merges.

    The agent keeps its own keepalive default (a random interval in [12 h, 24 h]); set
    `keepalive_seconds` only to match an API deployed with another `taskbeacon:keepaliveSeconds`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        task_definition: ecs.TaskDefinition,
        target: SnapshotsTarget,
        image: AgentImage,
        essential: bool = False,
        region: str | None = None,
        cpu: int = 32,
        memory_limit_mib: int = 64,
        logging: ecs.LogDriver | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        keepalive_seconds: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not isinstance(image, AgentImage):
            raise TypeError(
                "image must be an AgentImage (AgentImage.from_ecr_repository(repository, tag) or "
                "AgentImage.from_asset(directory)): a bare registry image gives the execution role no "
                "pull permission, and the agent's image could not be pulled"
            )
        command = ["sidecar"]
        if keepalive_seconds is not None:
            # Match the API's taskbeacon:keepaliveSeconds: a task is "stale" after twice it in silence.
            if not 30 <= keepalive_seconds <= 86_400:
                raise ValueError(
                    f"keepalive_seconds must be 30..86400 (the API's range), got {keepalive_seconds}"
                )
            command += ["--keepalive", str(keepalive_seconds)]
        if logging is None:
            log_group = logs.LogGroup(
                self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
            )
            logging = ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=log_group)
        # Binding an ECR image grants the pull to the execution role (created if the task has none).
        self.container = task_definition.add_container(
            CONTAINER_NAME,
            container_name=CONTAINER_NAME,
            image=image.container_image,
            essential=essential,
            command=command,
            cpu=cpu,
            memory_limit_mib=memory_limit_mib,
            environment={
                "TASKBEACON_ENDPOINT": target.endpoint_url,
                "TASKBEACON_REGION": region or _region_of(self, target.invoke_arn),
            },
            logging=logging,
            # The agent writes nothing: no files, no .pyc (zipapp), so the root can be read-only.
            readonly_root_filesystem=True,
        )
        task_definition.add_to_task_role_policy(
            iam.PolicyStatement(actions=["execute-api:Invoke"], resources=[target.invoke_arn])
        )


def _region_of(scope: Construct, arn: str) -> str:
    # Works for literal ARNs and for tokens (e.g. a RestApi in the same app).
    parts = cdk.Stack.of(scope).split_arn(arn, cdk.ArnFormat.SLASH_RESOURCE_NAME)
    return parts.region or cdk.Stack.of(scope).region
