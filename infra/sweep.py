"""The sweep (DESIGN 3.9): every member account and region read through the ECS API, on a schedule.

- The planner (`handlers.sweeper.plan_handler`) runs every `sweepIntervalHours` (default 12) and once
  right after each deploy that changes it, invoked asynchronously (a `Trigger` with
  `InvocationType: Event`): the deploy never waits for a sweep, and never fails because of one. It
  lists the targets (`SWEEP_ACCOUNTS` x `SWEEP_REGIONS`) and invokes the worker asynchronously once per
  account-region (`SWEEP_WORKER_FUNCTION`, the worker's ARN). No queue is polled: a queue behind an
  event source mapping is long-polled by Lambda all month, and SQS bills those empty receives
  (~657,000 a month, $0.26; docs/cost.md "Fixed cost").
- The worker (`handlers.sweeper.work_handler`) sweeps one account-region per invocation at
  `SWEEP_CALLS_PER_SECOND` ECS calls at most, and invokes itself asynchronously with the rest of its
  work (a continuation) when its time runs short. Its reserved concurrency is
  `WORKER_MAX_CONCURRENCY`: at 5 calls a second each that is 250 ECS calls a second over the whole
  organization, each account-region seeing at most its own 5; events beyond it wait in Lambda's
  asynchronous queue (throttles are retried up to the event's maximum age). Reserving takes 50 from
  the account's unreserved concurrency (docs/decisions/infra.md "Sweep").
- Every account, this one included, is read through its read-only role `<SWEEP_ROLE_NAME>-<region>`
  (the member template, infra/member.py), which trusts exactly the worker's role `<stackName>-sweeper`.
  The worker itself may read no ECS at all. An account-region without that role is logged and left
  out of `GET /coverage` (the worker does not retry what a retry cannot fix).

Where the accounts come from (`SWEEP_ACCOUNTS`): the context list `sweepAccounts` when given; else,
with an organization (`principalOrgId`), empty, and the planner calls Organizations `ListAccounts`
(which answers only in the management account or a delegated administrator of Organizations);
without an organization, this account and the `eventBusAccounts`.

A unit that keeps failing (an exception or a timeout, `WORKER_RETRIES` retries by Lambda) or that
waited longer than `WORKER_MAX_EVENT_AGE` goes to the worker's on-failure destination, the events
dead-letter queue; a planning run that keeps failing goes there too (the planner's dead-letter queue).
That queue is alarmed (infra/monitoring.py): the sweep adds no queue and no alarm metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from aws_cdk import triggers
from constructs import Construct

from infra.config import TaskBeaconConfig
from infra.functions import SWEEP_WORKER_RESERVED_CONCURRENCY
from infra.paths import environment

WORKER_MAX_CONCURRENCY: Final = SWEEP_WORKER_RESERVED_CONCURRENCY
WORKER_RETRIES: Final = 2  # Lambda's retries of an asynchronous invocation that failed (its maximum)
WORKER_MAX_EVENT_AGE: Final = cdk.Duration.hours(6)  # Lambda's maximum: long enough for any backlog
SCHEDULE_RETRIES: Final = 2


def sweep_accounts(config: TaskBeaconConfig) -> tuple[str, ...]:
    """SWEEP_ACCOUNTS: the context list; empty (Organizations) with an organization; else this account
    (a token) and the accounts that forward their events."""
    if config.sweep_accounts:
        return config.sweep_accounts
    if config.principal_org_id:
        return ()
    return (cdk.Aws.ACCOUNT_ID, *config.event_bus_accounts)


def sweep_regions(config: TaskBeaconConfig) -> tuple[str, ...]:
    """SWEEP_REGIONS: the member regions, or this stack's region (a token)."""
    return config.member_regions or (cdk.Aws.REGION,)


class TaskBeaconSweep(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TaskBeaconConfig,
        planner: lambda_.Function,
        worker: lambda_.Function,
        dead_letter_queue: sqs.IQueue,
        run_after: Sequence[Construct] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        accounts = sweep_accounts(config)
        regions = sweep_regions(config)
        self.lists_organization_accounts = not accounts
        variables = {
            environment.ENV_NAMES["sweep_accounts"]: cdk.Fn.join(",", list(accounts)) if accounts else "",
            environment.ENV_NAMES["sweep_regions"]: cdk.Fn.join(",", list(regions)),
            environment.ENV_NAMES["sweep_role_name"]: config.sweep_role_name,
            environment.ENV_NAMES["sweep_calls_per_second"]: str(config.sweep_calls_per_second),
        }
        for fn in (planner, worker):
            for name, value in variables.items():
                fn.add_environment(name, value)
        # The planner invokes the worker (the unqualified ARN: no version, no alias), nothing else.
        planner.add_environment(environment.ENV_NAMES["sweep_worker_function"], worker.function_arn)
        planner.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeSweepWorker", actions=["lambda:InvokeFunction"], resources=[worker.function_arn]
            )
        )
        # The worker invokes itself (continuations), nothing else. In a policy of its own: the worker
        # depends on its role's default policy, so a statement there naming the worker's ARN would be
        # a circular dependency. The worker finds its ARN in its context (no setting).
        self.worker_invokes_itself = iam.Policy(
            self,
            "WorkerContinues",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeItselfForContinuations",
                    actions=["lambda:InvokeFunction"],
                    resources=[worker.function_arn],
                )
            ],
        )
        if worker.role is not None:
            self.worker_invokes_itself.attach_to_role(worker.role)
        # Asynchronous invocations: function errors retried twice, throttled events kept up to 6 h,
        # then the event goes to the events dead-letter queue (alarmed) with the unit as its
        # `requestPayload` (redrive: invoke the worker with it).
        worker.configure_async_invoke(
            retry_attempts=WORKER_RETRIES,
            max_event_age=WORKER_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(dead_letter_queue),
        )
        if self.lists_organization_accounts:
            # No resource-level permission exists for ListAccounts (acknowledged in infra/nag.py).
            planner.add_to_role_policy(
                iam.PolicyStatement(actions=["organizations:ListAccounts"], resources=["*"])
            )

        partition = cdk.Aws.PARTITION
        # The member roles, by name and region: any account (the accounts come from the list or the
        # organization, and each member role decides whom it trusts), never another role name.
        self.member_role_arns = [
            f"arn:{partition}:iam::*:role/{config.sweep_role_name}-{region}" for region in regions
        ]
        worker.add_to_role_policy(
            iam.PolicyStatement(
                sid="AssumeMemberReadOnlyRoles", actions=["sts:AssumeRole"], resources=self.member_role_arns
            )
        )

        self.schedule = events.Rule(
            self,
            "Schedule",
            description="taskbeacon: sweep every member account and region through the ECS API",
            schedule=events.Schedule.rate(cdk.Duration.hours(config.sweep_interval_hours)),
            targets=[
                targets.LambdaFunction(
                    planner,
                    retry_attempts=SCHEDULE_RETRIES,
                    max_event_age=cdk.Duration.hours(1),
                    dead_letter_queue=dead_letter_queue,
                )
            ],
        )
        after: list[Construct] = [worker, self.worker_invokes_itself, *run_after]
        if isinstance(worker.role, Construct):
            after.append(
                worker.role
            )  # its policy: the worker may assume, invoke and fail over before the first run
        # Once right after the deploy (every deploy that changes the planner, i.e. its code or settings),
        # asynchronously: the deploy neither waits for the sweep nor fails with it.
        self.after_deploy = triggers.Trigger(
            self,
            "AfterDeploy",
            handler=planner,
            invocation_type=triggers.InvocationType.EVENT,
            execute_after=after,
        )
