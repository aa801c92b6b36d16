"""The sweep (DESIGN 3.9): every member account and region read through the ECS API, on a schedule.

- The planner (`handlers.sweeper.plan_handler`) runs every `sweepIntervalHours` (default 12) and once
  right after each deploy that changes it, invoked asynchronously (a `Trigger` with
  `InvocationType: Event`): the deploy never waits for a sweep, and never fails because of one. It
  lists the targets (`SWEEP_ACCOUNTS` x `SWEEP_REGIONS`) and sends one message per account-region.
- The worker (`handlers.sweeper.work_handler`, batch size 1, partial batch responses) sweeps one
  account-region per message at `SWEEP_CALLS_PER_SECOND` ECS calls at most, and queues the rest of
  its work as a continuation message to the same queue when its time runs short. At most
  `WORKER_MAX_CONCURRENCY` run at once: at 5 calls a second each that is 250 ECS calls a second over
  the whole organization, each account-region seeing at most its own 5.
- Every account, this one included, is read through its read-only role `<SWEEP_ROLE_NAME>-<region>`
  (the member template, infra/member.py), which trusts exactly the worker's role `<stackName>-sweeper`.
  The worker itself may read no ECS at all. An account-region without that role is logged and left
  out of `GET /coverage` (the worker does not retry what a retry cannot fix).

Where the accounts come from (`SWEEP_ACCOUNTS`): the context list `sweepAccounts` when given; else,
with an organization (`principalOrgId`), empty, and the planner calls Organizations `ListAccounts`
(which answers only in the management account or a delegated administrator of Organizations);
without an organization, this account and the `eventBusAccounts`.

A message that keeps failing (an exception, a timeout, or a failure the worker reports) goes to the
dead-letter queue after `MAX_RECEIVES` receives, and that queue is alarmed (infra/monitoring.py); a
planning run that keeps failing goes to the events dead-letter queue, which is alarmed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import triggers
from constructs import Construct

from infra.config import TaskBeaconConfig
from infra.functions import ENV_NAMES, SWEEP_WORKER

# Lambda's advice for SQS event sources: a visibility timeout of at least six times the function's
# timeout, so a message is not handed to a second worker while the first may still run it.
VISIBILITY_TIMEOUT: Final = cdk.Duration.seconds(6 * SWEEP_WORKER.timeout_s)
MAX_RECEIVES: Final = 5
WORKER_BATCH_SIZE: Final = 1  # one account-region per invocation
WORKER_MAX_CONCURRENCY: Final = 50
SCHEDULE_RETRIES: Final = 2


class SweepQueue(Construct):
    """One message per account-region to sweep (and continuations), with a dead-letter queue."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),  # time to notice, fix and redrive
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )


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
        self.queue = SweepQueue(self, "Queue")
        accounts = sweep_accounts(config)
        regions = sweep_regions(config)
        self.lists_organization_accounts = not accounts
        environment = {
            ENV_NAMES["sweep_accounts"]: cdk.Fn.join(",", list(accounts)) if accounts else "",
            ENV_NAMES["sweep_regions"]: cdk.Fn.join(",", list(regions)),
            ENV_NAMES["sweep_role_name"]: config.sweep_role_name,
            ENV_NAMES["sweep_queue_url"]: self.queue.queue.queue_url,
            ENV_NAMES["sweep_calls_per_second"]: str(config.sweep_calls_per_second),
        }
        for fn in (planner, worker):
            for name, value in environment.items():
                fn.add_environment(name, value)
            # Planner: one message per account-region; worker: its continuations. Nothing else.
            fn.add_to_role_policy(
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue.queue_arn])
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
        self.event_source = sources.SqsEventSource(
            self.queue.queue,
            batch_size=WORKER_BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=WORKER_MAX_CONCURRENCY,
        )
        worker.add_event_source(self.event_source)

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
        after: list[Construct] = [self.queue, worker, *run_after]
        if isinstance(worker.role, Construct):
            after.append(worker.role)  # its policy: the worker may read and assume before the first run
        # Once right after the deploy (every deploy that changes the planner, i.e. its code or settings),
        # asynchronously: the deploy neither waits for the sweep nor fails with it.
        self.after_deploy = triggers.Trigger(
            self,
            "AfterDeploy",
            handler=planner,
            invocation_type=triggers.InvocationType.EVENT,
            execute_after=after,
        )
