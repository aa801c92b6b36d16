"""Synth helpers shared by the infra tests (a plain module: conftest is not importable by name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from infra.application import build_app
from infra.member import TaskBeaconMemberStack
from infra.stack import TaskBeaconStack

# Skips asset bundling (no pip, no network); only test_bundling.py bundles for real.
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

FULL_CONTEXT: dict[str, Any] = {
    "taskbeacon:stackName": "TaskBeaconFull",
    "taskbeacon:principalOrgId": "o-abc123def456",
    "taskbeacon:privateEndpoint": "true",  # as `-c key=value` passes it
    "taskbeacon:vpcEndpointIds": "vpce-0123456789abcdef0,vpce-0fedcba9876543210",
    "taskbeacon:eventBusAccounts": ["111111111111", "222222222222"],
    "taskbeacon:describeTasksCrossCheck": True,
    "taskbeacon:collectorRoleArns": ["arn:aws:iam::123456789012:role/ecs-instance-collector"],
    "taskbeacon:alarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:ops-alarms",
    "taskbeacon:retentionDays": "45",
    "taskbeacon:manageApiGatewayAccount": "false",
    "taskbeacon:logRetentionDays": 30,
    "taskbeacon:tracing": "true",
    "taskbeacon:readerPrincipalArns": "444455556666,arn:aws:iam::777788889999:role/inventory-reader",
    "taskbeacon:reconcileIntervalHours": 3,
    "taskbeacon:dashboard": True,
    # The member StackSet from a delegated administrator; the sweep lists the organization's accounts.
    "taskbeacon:organizationalUnitIds": "ou-ab12-cdef3456,r-ab12",
    "taskbeacon:memberRegions": ["eu-west-1", "us-east-1"],
    "taskbeacon:stackSetCallAs": "DELEGATED_ADMIN",
    "taskbeacon:sweepIntervalHours": "6",
    "taskbeacon:sweepCallsPerSecond": 4,
}


# As `cdk deploy` runs the app (path metadata on), with explicit account and region lists for the sweep.
LISTS_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "taskbeacon:stackName": "TaskBeaconLists",
    "taskbeacon:principalOrgId": "o-abc123def456",
    "taskbeacon:organizationalUnitIds": ["ou-ab12-cdef3456"],
    "taskbeacon:memberRegions": "eu-central-1",
    "taskbeacon:sweepAccounts": "111111111111,222222222222",
    "taskbeacon:sweepRoleName": "inventory-reader",
    # Change events to a bus of the operator's own (no bus of the stack's).
    "taskbeacon:changeEventsBusArn": "arn:aws:events:eu-central-1:999988887777:event-bus/ops-changes",
}


@dataclass(frozen=True)
class Synth:
    stack: TaskBeaconStack
    template: Template
    raw: dict[str, Any]
    member: TaskBeaconMemberStack
    member_raw: dict[str, Any]  # the member template (`<stackName>Member`)
    outdir: Path

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return _of_type(self.raw, type_name)

    def central_buses(self) -> dict[str, dict[str, Any]]:
        """The event buses but the stack's change-events bus (`<stackName>-changes`, docs/events.md)."""
        return {
            k: r
            for k, r in self.resources("AWS::Events::EventBus").items()
            if not str(r["Properties"].get("Name", "")).endswith("-changes")
        }

    def member_resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return _of_type(self.member_raw, type_name)


def _of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_name}


def synth(context: dict[str, Any], outdir: Path) -> Synth:
    """Build exactly as app.py does, then synth: the cdk-nag gate raises on any unacknowledged error."""
    built = build_app(context={**NO_BUNDLING, **context}, outdir=str(outdir), deploy_region="")
    assembly = built.app.synth()
    raw = assembly.get_stack_by_name(built.stack.stack_name).template
    member_raw = assembly.get_stack_by_name(built.member.stack_name).template
    return Synth(built.stack, Template.from_json(raw), raw, built.member, member_raw, outdir)
