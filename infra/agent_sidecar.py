"""Adopt the agent: add the taskbeacon sidecar to a task definition and let the task report itself.

Usage in a service team's stack (same or other account; the ARN is the stack output
`SnapshotsInvokeArn`, the URL the output `ApiUrl`):

    repo = ecr.Repository.from_repository_arn(
        self, "AgentRepo", "arn:aws:ecr:eu-west-1:123456789012:repository/taskbeacon-agent")
    TaskBeaconAgentSidecar(self, "Beacon", task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=url, invoke_arn=arn),
        image=AgentImage.from_ecr_repository(repo, "sha256:<64 hex>"))

**An image that cannot be pulled stops the task.** ECS does not start a task when any of its
container images cannot be pulled, essential or not: on Fargate the task stops with
`CannotPullContainerError`, and on EC2 so it does when `ECS_IMAGE_PULL_BEHAVIOR` is `always` or
`once` ("Container image pull behavior for the Amazon EC2 launch type", ECS developer guide). A
sidecar is therefore a dependency of every task that carries it, whatever `essential` says. So:
- the image is pinned by **digest** (a tag can be moved or deleted under running services);
- at deploy time a check (`AgentImageCheck`) calls `ecr:BatchGetImage` for that digest *as the
  task's execution role*, so `cdk deploy` fails, not the tasks, when the image does not exist, when
  the execution role may not pull it, or when the repository policy does not admit the task's
  account. The task definition takes the digest from the check's answer, so it cannot be created or
  updated without it;
- at run time, what no deploy can see (a private subnet without ECR endpoints, a repository policy
  changed later) shows as the central stack's `AgentImagePullFailures` alarm (STOPPED events with
  `CannotPullContainerError` for tasks running the agent, infra/agent_pull_failures.py).
Teams that cannot take that risk use the entrypoint hook instead: the zipapp inside their own image
adds no image to pull (agent/README.md).

The image comes from an ECR repository by digest, or from an image asset built from
`agent/Dockerfile` (`AgentImage.from_asset`: CDK publishes it to the bootstrap repository before the
stack deploys, under a tag that is the hash of its content, in a repository whose tags are
immutable, so it exists when the task definition changes). Either way the task's *execution role*
is granted the pull (`ecr:GetAuthorizationToken`, and `ecr:BatchCheckLayerAvailability`,
`ecr:GetDownloadUrlForLayer`, `ecr:BatchGetImage` on that repository only). A bare registry name
cannot be granted or checked, and is refused.

Cross-account, for a whole organization: the repository lives in one account (say a tooling
account) and its *repository policy* lets every account of the organization pull, which
`grant_organization_pull(repository, "o-...")` adds in the repository owner's stack:

    {"Sid": "TaskBeaconAgentPullFromOrganization", "Effect": "Allow", "Principal": {"AWS": "*"},
     "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-..."}}}

Cross-account pulls need both sides: that policy, and the execution role's own grant, which this
construct adds (and its deploy-time check proves). Pull from a repository in the task's region (ECR
replication can copy it to each region), or every task start pays a cross-region pull.

No container depends on the agent, nor it on them, and it is not essential: once the task runs,
an agent that fails or exits never stops it.
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
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.paths import REPO_ROOT

CONTAINER_NAME: Final = "taskbeacon-agent"
# What a pull needs on the repository (ecr:GetAuthorizationToken is account-wide, on "*").
PULL_ACTIONS: Final = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
)
_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
# What BatchGetImage may answer with: single-platform manifests and multi-platform indexes alike.
_MANIFEST_TYPES: Final = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
_CHECKED_DIGEST: Final = "images.0.imageId.imageDigest"
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
    """The agent's image, always in ECR, so that the pull can be granted (and, by digest, checked)."""

    def __init__(
        self,
        image: ecs.ContainerImage | None,
        description: str,
        *,
        repository: ecr.IRepository | None = None,
        digest: str | None = None,
    ) -> None:
        self.container_image = image
        self.description = description
        self.repository = repository
        self.digest = digest

    @classmethod
    def from_ecr_repository(cls, repository: ecr.IRepository, digest: str) -> AgentImage:
        """An image pushed to `repository` (any account: see the module docs), pinned by its digest."""
        if not cdk.Token.is_unresolved(digest) and not _DIGEST.fullmatch(digest):
            raise ValueError(
                f"the agent image must be pinned by digest (sha256:<64 hex>), got {digest!r}: a tag can "
                "be moved or deleted, and a task whose image cannot be pulled does not start. Find the "
                "digest of a tag with: aws ecr describe-images --repository-name <repo> --image-ids "
                "imageTag=<tag> --query 'imageDetails[0].imageDigest'"
            )
        return cls(None, f"ecr@{digest}", repository=repository, digest=digest)

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


class AgentImageCheck(Construct):
    """At deploy time: `ecr:BatchGetImage` of the digest, as the task's execution role.

    AWS's answer is what decides: the call fails when the execution role's IAM (with any permissions
    boundary or SCP) or the repository policy would refuse the pull, and it lists no image when the
    digest does not exist, so reading `digest` (the image's digest in that answer) fails the deploy.
    The check assumes the execution role: that role then also trusts this check's own role (and only
    it), on top of `ecs-tasks.amazonaws.com`. An imported execution role cannot be changed; then the
    check runs as its own role with the same pull grant (which still proves the image exists and that
    the repository policy admits this account) and synth warns that the role itself is unchecked.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: ecr.IRepository,
        digest: str,
        execution_role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        checker = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="taskbeacon: check at deploy time that tasks can pull the agent image",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole")
            ],
        )
        assumed: str | None = None
        if isinstance(execution_role, iam.Role):
            execution_role.assume_role_policy.add_statements(  # type: ignore[union-attr]
                iam.PolicyStatement(
                    actions=["sts:AssumeRole"], principals=[iam.ArnPrincipal(checker.role_arn)]
                )
            )
            checker.add_to_policy(
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[execution_role.role_arn])
            )
            assumed = execution_role.role_arn
        else:
            repository.grant_pull(checker)
            cdk.Annotations.of(self).add_warning_v2(
                "taskbeacon:imported-execution-role",
                "the task's execution role is imported, so the deploy-time pull check runs as its own "
                "role: it proves the image exists and that the repository admits this account, not that "
                "the execution role may pull it",
            )
        call = cr.AwsSdkCall(
            service="ECR",
            action="batchGetImage",
            parameters={
                "registryId": repository.env.account,
                "repositoryName": repository.repository_name,
                "imageIds": [{"imageDigest": digest}],
                "acceptedMediaTypes": list(_MANIFEST_TYPES),
            },
            assumed_role_arn=assumed,
            # A new digest is a new check; the answer is trimmed to the digest (responses are <= 4 KB).
            physical_resource_id=cr.PhysicalResourceId.of(f"{repository.repository_arn}@{digest}"),
            output_paths=[_CHECKED_DIGEST],
        )
        self.resource = cr.AwsCustomResource(
            self,
            "BatchGetImage",
            on_create=call,
            on_update=call,
            role=checker,
            install_latest_aws_sdk=False,  # no download at deploy time
            resource_type="Custom::TaskBeaconAgentImageCheck",
        )
        # Reading the digest from the answer is what fails the deploy when no image was found.
        self.digest = self.resource.get_response_field(_CHECKED_DIGEST)


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

    The task starts only if the agent's image can be pulled (ECS pulls every image before it starts
    a task; see the module docs), which is why the image is pinned by digest and its pull is checked
    at deploy time. Once running, no container depends on the agent and the agent on none: an agent
    that fails or exits never stops the task. Its final snapshot on SIGTERM may go out before the app
    containers have exited; their exit codes arrive with ECS's STOPPED event, which the events
    function merges.

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
        self.check: AgentImageCheck | None = None
        container_image = image.container_image
        if container_image is None:  # from an ECR repository, by digest: grant, then check the pull
            assert image.repository is not None and image.digest is not None
            execution_role = task_definition.obtain_execution_role()
            image.repository.grant_pull(execution_role)
            self.check = AgentImageCheck(
                self,
                "ImageCheck",
                repository=image.repository,
                digest=image.digest,
                execution_role=execution_role,
            )
            container_image = ecs.ContainerImage.from_registry(
                image.repository.repository_uri_for_digest(self.check.digest)
            )
        # Binding an asset image grants the pull to the execution role (created if the task has none).
        self.container = task_definition.add_container(
            CONTAINER_NAME,
            container_name=CONTAINER_NAME,
            image=container_image,
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
