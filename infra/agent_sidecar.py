"""Adopt the agent: add the taskbeacon sidecar to a task definition and let the task report itself.

Usage in a service team's stack (same or other account; the ARN is the stack output
`SnapshotsInvokeArn`, the URL the output `ApiUrl`):

    TaskBeaconAgentSidecar(self, "Beacon", task_definition=task_def,
        target=SnapshotsTarget(endpoint_url=url, invoke_arn=arn),
        image=ecs.ContainerImage.from_registry("<account>.dkr.ecr.<region>.amazonaws.com/taskbeacon-agent:0.1.0"))
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

CONTAINER_NAME = "taskbeacon-agent"


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


class TaskBeaconAgentSidecar(Construct):
    """A non-essential `sidecar` container plus `execute-api:Invoke` on `POST /snapshots` only.

    App containers that exist when this construct is created (and any passed to
    `add_dependent`) get `dependsOn: [{taskbeacon-agent, START}]`: they wait only until the agent
    process has started, and ECS then stops them *before* the agent, so its final snapshot on
    SIGTERM sees their exit codes. The agent depends on nothing and is not essential, so it can
    never stop the task.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        task_definition: ecs.TaskDefinition,
        target: SnapshotsTarget,
        image: ecs.ContainerImage,
        essential: bool = False,
        region: str | None = None,
        cpu: int = 32,
        memory_limit_mib: int = 64,
        logging: ecs.LogDriver | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        app_containers_wait_for_agent: bool = True,
        keepalive_seconds: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        command = ["sidecar"]
        if keepalive_seconds is not None:
            # Match the API's taskbeacon:keepaliveSeconds: a task is "stale" after twice it in silence.
            if not 30 <= keepalive_seconds <= 86_400:
                raise ValueError(
                    f"keepalive_seconds must be 30..86400 (the API's range), got {keepalive_seconds}"
                )
            command += ["--keepalive", str(keepalive_seconds)]
        existing = list(task_definition.node.children)
        if logging is None:
            log_group = logs.LogGroup(
                self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
            )
            logging = ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=log_group)
        self.container = task_definition.add_container(
            CONTAINER_NAME,
            container_name=CONTAINER_NAME,
            image=image,
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
        if app_containers_wait_for_agent:
            for child in existing:
                if isinstance(child, ecs.ContainerDefinition) and child is not self.container:
                    self.add_dependent(child)

    def add_dependent(self, container: ecs.ContainerDefinition) -> None:
        """Make `container` start after (and stop before) the agent."""
        container.add_container_dependencies(
            ecs.ContainerDependency(
                container=self.container, condition=ecs.ContainerDependencyCondition.START
            )
        )


def _region_of(scope: Construct, arn: str) -> str:
    # Works for literal ARNs and for tokens (e.g. a RestApi in the same app).
    parts = cdk.Stack.of(scope).split_arn(arn, cdk.ArnFormat.SLASH_RESOURCE_NAME)
    return parts.region or cdk.Stack.of(scope).region
