"""Deployment configuration from CDK context (`taskbeacon:*` keys), validated before any construct exists.

Values come from cdk.json (JSON types) or from `cdk deploy -c key=value` (always strings), so every
parser accepts both forms. A bad value raises ConfigError naming the key; unknown `taskbeacon:*`
keys are rejected too, because a typo would otherwise silently deploy the default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import aws_logs as logs

PREFIX: Final = "taskbeacon:"

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def log_retention(days: int) -> logs.RetentionDays:
    """Map a validated day count to the CDK enum (whose members are named, not numbered)."""
    finite = [member for member in logs.RetentionDays if member is not logs.RetentionDays.INFINITE]
    return dict(zip(sorted(LOG_RETENTION_DAYS), finite, strict=True))[days]


_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_EVENT_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.\-/]{1,256}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
# A reader: a whole account (delegated to that account's IAM) or one role; never a wildcard.
_READER = re.compile(r"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+)$")
# A StackSet's deployment targets: organizational units (ou-...) or the organization's root (r-...).
_OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
# Region names of every partition: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1.
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
# IAM role names are at most 64 characters, and the member role is `<name>-<region>` (IAM names are
# global, a StackSet instance runs per region): 64 - 1 - 14 (ap-southeast-7, us-isob-east-1) = 49.
IAM_ROLE_NAME_MAX: Final = 64
LONGEST_REGION_NAME: Final = 14
_SWEEP_ROLE_NAME_MAX: Final = IAM_ROLE_NAME_MAX - 1 - LONGEST_REGION_NAME
_SWEEP_ROLE_NAME = re.compile(rf"^[\w+=,.@-]{{1,{_SWEEP_ROLE_NAME_MAX}}}$")
# The central sweeper role is `<stackName>-sweeper`, and member roles trust exactly that name.
SWEEPER_ROLE_SUFFIX: Final = "-sweeper"
STACK_SET_CALL_AS: Final = ("SELF", "DELEGATED_ADMIN")


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message names the key."""


@dataclass(frozen=True)
class TaskBeaconConfig:
    stack_name: str = "TaskBeacon"
    retention_days: int = 30
    # The agents' keepalive (their default: a random interval in [12 h, 24 h]); `stale` follows it.
    keepalive_seconds: int = 86_400
    collector_role_arns: tuple[str, ...] = ()
    principal_org_id: str = ""
    # Cross-account (or named own-account) readers of the query routes, by account id or role ARN.
    reader_principal_arns: tuple[str, ...] = ()
    private_endpoint: bool = False
    vpc_endpoint_ids: tuple[str, ...] = ()
    event_bus_accounts: tuple[str, ...] = ()
    describe_tasks_cross_check: bool = False
    log_retention_days: int = 90
    # Sized for 1,000 task starts + 1,000 stops a second (docs/decisions/infra.md "Stage throttling").
    throttle_rate_limit: int = 2_500
    throttle_burst_limit: int = 5_000
    alarm_topic_arn: str = ""
    # API Gateway's CloudWatch role is one per account and region: false leaves it alone, and then the
    # stage logs nothing to CloudWatch Logs (both execution and access logs would need that role).
    manage_api_gateway_account: bool = True
    # X-Ray: off by default (cost); on = API stage + functions traced, 1 % beyond 1 request a second.
    tracing: bool = False
    reconcile_interval_hours: int = 6
    # A CloudWatch dashboard costs $3 a month, twice the fixed goal: on request only.
    dashboard: bool = False
    # The member StackSet (infra/stackset.py): created only when organizational units are given.
    organizational_unit_ids: tuple[str, ...] = ()
    member_regions: tuple[str, ...] = ()
    stack_set_call_as: str = "SELF"
    # The sweep (infra/sweep.py, DESIGN 3.9).
    sweep_interval_hours: int = 12
    sweep_accounts: tuple[str, ...] = ()  # empty: the organization's accounts (or, without one, this one)
    sweep_role_name: str = "taskbeacon-sweep-reader"
    # ECS calls a second per account and region; ECS's budget of ~20 a second is shared by everyone there.
    sweep_calls_per_second: int = 5
    # Change events out (docs/events.md): the bus the indexer publishes to; empty: the stack's own
    # bus, `<stackName>-changes`.
    change_events_bus_arn: str = ""

    @property
    def change_events_bus_name(self) -> str:
        """The name of the stack's own change-events bus (when no bus ARN is given)."""
        return f"{self.stack_name}-changes"

    @property
    def sweeper_role_name(self) -> str:
        """The central sweeper role's fixed name, which every member read-only role trusts."""
        return f"{self.stack_name}{SWEEPER_ROLE_SUFFIX}"

    @property
    def member_stack_name(self) -> str:
        return f"{self.stack_name}Member"


def _fail(key: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"context key '{PREFIX}{key}': expected {expected}, got {value!r}")


def _as_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise _fail(key, "true or false", value)


def _as_int(key: str, value: object, low: int, high: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise _fail(key, f"an integer from {low} to {high}", value)
    return number


def _as_str(key: str, value: object, pattern: re.Pattern[str], what: str, *, empty_ok: bool) -> str:
    if isinstance(value, str) and ((empty_ok and value == "") or pattern.fullmatch(value)):
        return value
    raise _fail(key, what + (" or an empty string" if empty_ok else ""), value)


def _as_list(key: str, value: object, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as error:
                raise _fail(key, f"a JSON list of {what}", value) from error
        else:  # `-c key=a,b` from the command line
            items = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _fail(key, f"a list of {what}", value)
    for item in items:
        if not pattern.fullmatch(item):
            raise _fail(key, f"a list of {what}", item)
    return tuple(dict.fromkeys(items))  # drop duplicates, keep order


def _one_of(key: str, value: object, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise _fail(key, " or ".join(choices), value)


def _log_retention(key: str, value: object) -> int:
    days = _as_int(key, value, 1, 3653)
    if days not in LOG_RETENTION_DAYS:
        raise _fail(key, f"one of {sorted(LOG_RETENTION_DAYS)}", value)
    return days


_PARSERS: Final[dict[str, Callable[[str, object], Any]]] = {
    "stackName": lambda k, v: _as_str(k, v, _STACK_NAME, "a CloudFormation stack name", empty_ok=False),
    "retentionDays": lambda k, v: _as_int(k, v, 1, 3650),
    "keepaliveSeconds": lambda k, v: _as_int(k, v, 30, 86_400),
    "collectorRoleArns": lambda k, v: _as_list(k, v, _ROLE_ARN, "IAM role ARNs"),
    "principalOrgId": lambda k, v: _as_str(k, v, _ORG_ID, "an AWS Organization id (o-...)", empty_ok=True),
    "readerPrincipalArns": lambda k, v: _as_list(
        k, v, _READER, "12-digit account ids or IAM role ARNs (arn:aws:iam::<account>:role/<name>)"
    ),
    "privateEndpoint": _as_bool,
    "vpcEndpointIds": lambda k, v: _as_list(k, v, _VPCE_ID, "VPC endpoint ids (vpce-...)"),
    "eventBusAccounts": lambda k, v: _as_list(k, v, _ACCOUNT_ID, "12-digit AWS account ids"),
    "describeTasksCrossCheck": _as_bool,
    "logRetentionDays": _log_retention,
    "throttleRateLimit": lambda k, v: _as_int(k, v, 1, 10_000),
    "throttleBurstLimit": lambda k, v: _as_int(k, v, 1, 5_000),
    "alarmTopicArn": lambda k, v: _as_str(k, v, _TOPIC_ARN, "an SNS topic ARN", empty_ok=True),
    "manageApiGatewayAccount": _as_bool,
    "tracing": _as_bool,
    "reconcileIntervalHours": lambda k, v: _as_int(k, v, 1, 24),
    "dashboard": _as_bool,
    "organizationalUnitIds": lambda k, v: _as_list(
        k, v, _OU_ID, "organizational unit ids (ou-...) or the organization's root id (r-...)"
    ),
    "memberRegions": lambda k, v: _as_list(k, v, _REGION, "AWS region names (eu-west-1, ...)"),
    "stackSetCallAs": lambda k, v: _one_of(k, v, STACK_SET_CALL_AS),
    "sweepIntervalHours": lambda k, v: _as_int(k, v, 1, 168),
    "sweepAccounts": lambda k, v: _as_list(k, v, _ACCOUNT_ID, "12-digit AWS account ids"),
    "sweepRoleName": lambda k, v: _as_str(
        k,
        v,
        _SWEEP_ROLE_NAME,
        f"an IAM role name of at most {_SWEEP_ROLE_NAME_MAX} characters",
        empty_ok=False,
    ),
    "sweepCallsPerSecond": lambda k, v: _as_int(k, v, 1, 20),
    "changeEventsBusArn": lambda k, v: _as_str(
        k,
        v,
        _EVENT_BUS_ARN,
        "an EventBridge event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)",
        empty_ok=True,
    ),
}

_FIELDS: Final = {
    "stackName": "stack_name",
    "retentionDays": "retention_days",
    "keepaliveSeconds": "keepalive_seconds",
    "collectorRoleArns": "collector_role_arns",
    "principalOrgId": "principal_org_id",
    "readerPrincipalArns": "reader_principal_arns",
    "privateEndpoint": "private_endpoint",
    "vpcEndpointIds": "vpc_endpoint_ids",
    "eventBusAccounts": "event_bus_accounts",
    "describeTasksCrossCheck": "describe_tasks_cross_check",
    "logRetentionDays": "log_retention_days",
    "throttleRateLimit": "throttle_rate_limit",
    "throttleBurstLimit": "throttle_burst_limit",
    "alarmTopicArn": "alarm_topic_arn",
    "manageApiGatewayAccount": "manage_api_gateway_account",
    "tracing": "tracing",
    "reconcileIntervalHours": "reconcile_interval_hours",
    "dashboard": "dashboard",
    "organizationalUnitIds": "organizational_unit_ids",
    "memberRegions": "member_regions",
    "stackSetCallAs": "stack_set_call_as",
    "sweepIntervalHours": "sweep_interval_hours",
    "sweepAccounts": "sweep_accounts",
    "sweepRoleName": "sweep_role_name",
    "sweepCallsPerSecond": "sweep_calls_per_second",
    "changeEventsBusArn": "change_events_bus_arn",
}

KNOWN_KEYS: Final = tuple(PREFIX + key for key in _FIELDS)


def config_from_context(context: Mapping[str, object]) -> TaskBeaconConfig:
    """Parse every `taskbeacon:*` key of `context`; missing keys keep their defaults."""
    values: dict[str, Any] = {}
    for full_key, raw in context.items():
        if not full_key.startswith(PREFIX):
            continue
        key = full_key.removeprefix(PREFIX)
        if key not in _PARSERS:
            raise ConfigError(f"unknown context key '{full_key}' (known keys: {', '.join(KNOWN_KEYS)})")
        values[_FIELDS[key]] = _PARSERS[key](key, raw)
    config = TaskBeaconConfig(**values)
    if config.private_endpoint and not config.vpc_endpoint_ids:
        raise ConfigError(
            f"context key '{PREFIX}vpcEndpointIds': a private endpoint "
            f"('{PREFIX}privateEndpoint'=true) needs at least one execute-api VPC endpoint id"
        )
    if config.vpc_endpoint_ids and not config.private_endpoint:
        raise ConfigError(
            f"context key '{PREFIX}vpcEndpointIds': only used with '{PREFIX}privateEndpoint'=true"
        )
    _check_organization(config)
    return config


def _check_organization(config: TaskBeaconConfig) -> None:
    if len(config.sweeper_role_name) > IAM_ROLE_NAME_MAX:
        raise ConfigError(
            f"context key '{PREFIX}stackName': the sweeper role is named '<stackName>{SWEEPER_ROLE_SUFFIX}' "
            f"and IAM role names have at most {IAM_ROLE_NAME_MAX} characters, so the stack name may have at "
            f"most {IAM_ROLE_NAME_MAX - len(SWEEPER_ROLE_SUFFIX)}"
        )
    if config.organizational_unit_ids and not config.principal_org_id:
        raise ConfigError(
            f"context key '{PREFIX}organizationalUnitIds': the member StackSet forwards events to a bus that "
            f"admits the organization, so '{PREFIX}principalOrgId' (o-...) must be set too"
        )
    if config.organizational_unit_ids and not config.member_regions:
        raise ConfigError(
            f"context key '{PREFIX}memberRegions': the member StackSet ('{PREFIX}organizationalUnitIds') "
            "needs the regions to deploy to"
        )
    for region in config.member_regions:
        if len(f"{config.sweep_role_name}-{region}") > IAM_ROLE_NAME_MAX:
            raise ConfigError(
                f"context key '{PREFIX}sweepRoleName': '{config.sweep_role_name}-{region}' is longer than "
                f"IAM's {IAM_ROLE_NAME_MAX} characters"
            )


def check_alarm_topic_region(config: TaskBeaconConfig, region: str) -> None:
    """CloudWatch alarms can only notify a topic of their own region: refuse any other at synth."""
    if not config.alarm_topic_arn:
        return
    topic_region = config.alarm_topic_arn.split(":")[3]
    if topic_region != region:
        raise ConfigError(
            f"context key '{PREFIX}alarmTopicArn': the SNS topic is in {topic_region}, but the stack "
            f"deploys to {region}; CloudWatch alarms can only notify a topic in their own region"
        )
