"""Context validation: bad values fail before synth with the key's name; CLI strings parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.config import KNOWN_KEYS, ConfigError, TaskBeaconConfig, config_from_context
from infra.paths import REPO_ROOT


def test_defaults_match_cdk_json() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert config_from_context(context) == TaskBeaconConfig()
    assert sorted(key for key in context if key.startswith("taskbeacon:")) == sorted(KNOWN_KEYS)
    readme = (REPO_ROOT / "README.md").read_text()
    assert [key for key in KNOWN_KEYS if f"`{key.removeprefix('taskbeacon:')}`" not in readme] == []


def test_command_line_strings_parse() -> None:
    config = config_from_context(
        {
            "taskbeacon:retentionDays": "7",
            "taskbeacon:privateEndpoint": "true",
            "taskbeacon:vpcEndpointIds": "vpce-0123456789abcdef0, vpce-0123456789abcdef0",
            "taskbeacon:eventBusAccounts": '["111111111111"]',
            "taskbeacon:describeTasksCrossCheck": "no",
            "unrelated": "ignored",
        }
    )
    assert config.retention_days == 7
    assert config.private_endpoint is True
    assert config.vpc_endpoint_ids == ("vpce-0123456789abcdef0",)
    assert config.event_bus_accounts == ("111111111111",)
    assert config.describe_tasks_cross_check is False


def test_readers_tracing_and_reconcile_interval_parse() -> None:
    config = config_from_context(
        {
            "taskbeacon:readerPrincipalArns": "444455556666, arn:aws:iam::777788889999:role/path/reader",
            "taskbeacon:tracing": "true",
            "taskbeacon:reconcileIntervalHours": "12",
        }
    )
    assert config.reader_principal_arns == ("444455556666", "arn:aws:iam::777788889999:role/path/reader")
    assert config.tracing is True
    assert config.reconcile_interval_hours == 12
    defaults = TaskBeaconConfig()
    assert (defaults.tracing, defaults.reconcile_interval_hours, defaults.reader_principal_arns) == (
        False,
        6,
        (),
    )
    assert defaults.keepalive_seconds == 86_400  # the agents' 12-24 h keepalive
    assert (defaults.throttle_rate_limit, defaults.throttle_burst_limit) == (2_500, 5_000)


def test_organization_and_sweep_keys_parse() -> None:
    config = config_from_context(
        {
            "taskbeacon:principalOrgId": "o-abc123def456",
            "taskbeacon:organizationalUnitIds": "ou-ab12-cdef3456, r-ab12",
            "taskbeacon:memberRegions": '["eu-west-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1"]',
            "taskbeacon:stackSetCallAs": "DELEGATED_ADMIN",
            "taskbeacon:sweepIntervalHours": "168",
            "taskbeacon:sweepAccounts": "111111111111,222222222222",
            "taskbeacon:sweepRoleName": "x" * 49,
            "taskbeacon:sweepCallsPerSecond": "20",
        }
    )
    assert config.organizational_unit_ids == ("ou-ab12-cdef3456", "r-ab12")
    assert config.member_regions == ("eu-west-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1")
    assert config.stack_set_call_as == "DELEGATED_ADMIN"
    assert (config.sweep_interval_hours, config.sweep_calls_per_second) == (168, 20)
    assert config.sweep_accounts == ("111111111111", "222222222222")
    defaults = TaskBeaconConfig()
    assert (defaults.sweep_interval_hours, defaults.sweep_calls_per_second) == (12, 5)
    assert (defaults.sweep_role_name, defaults.stack_set_call_as) == ("taskbeacon-sweep-reader", "SELF")
    assert defaults.sweeper_role_name == "TaskBeacon-sweeper"
    assert defaults.member_stack_name == "TaskBeaconMember"


_ORG = {"taskbeacon:principalOrgId": "o-abc123def456"}
_OUS = {
    **_ORG,
    "taskbeacon:organizationalUnitIds": "ou-ab12-cdef3456",
    "taskbeacon:memberRegions": "eu-west-1",
}


@pytest.mark.parametrize(
    ("context", "key"),
    [
        # the member StackSet and the sweep
        ({**_OUS, "taskbeacon:organizationalUnitIds": "ou-123"}, "taskbeacon:organizationalUnitIds"),
        (
            {**_OUS, "taskbeacon:organizationalUnitIds": ["o-abc123def456"]},
            "taskbeacon:organizationalUnitIds",
        ),
        (
            {**_OUS, "taskbeacon:organizationalUnitIds": ["OU-AB12-CDEF3456"]},
            "taskbeacon:organizationalUnitIds",
        ),
        # OUs without an organization: the bus must admit the organization
        ({"taskbeacon:organizationalUnitIds": "ou-ab12-cdef3456"}, "taskbeacon:organizationalUnitIds"),
        ({**_ORG, "taskbeacon:organizationalUnitIds": "r-ab12"}, "taskbeacon:memberRegions"),
        ({**_OUS, "taskbeacon:memberRegions": "europe"}, "taskbeacon:memberRegions"),
        ({**_OUS, "taskbeacon:memberRegions": ["EU-WEST-1"]}, "taskbeacon:memberRegions"),
        ({**_OUS, "taskbeacon:memberRegions": ["eu-west"]}, "taskbeacon:memberRegions"),
        ({**_OUS, "taskbeacon:stackSetCallAs": "ADMIN"}, "taskbeacon:stackSetCallAs"),
        ({"taskbeacon:stackSetCallAs": True}, "taskbeacon:stackSetCallAs"),
        ({"taskbeacon:sweepIntervalHours": 0}, "taskbeacon:sweepIntervalHours"),
        ({"taskbeacon:sweepIntervalHours": "169"}, "taskbeacon:sweepIntervalHours"),
        ({"taskbeacon:sweepIntervalHours": "twelve"}, "taskbeacon:sweepIntervalHours"),
        ({"taskbeacon:sweepAccounts": ["1234"]}, "taskbeacon:sweepAccounts"),
        ({"taskbeacon:sweepAccounts": "o-abc123def456"}, "taskbeacon:sweepAccounts"),
        ({"taskbeacon:sweepRoleName": ""}, "taskbeacon:sweepRoleName"),
        ({"taskbeacon:sweepRoleName": "x" * 50}, "taskbeacon:sweepRoleName"),
        ({"taskbeacon:sweepRoleName": "path/reader"}, "taskbeacon:sweepRoleName"),
        ({"taskbeacon:sweepRoleName": "reader*"}, "taskbeacon:sweepRoleName"),
        # a 49-character name fits every region of 14 characters, not one of 15
        (
            {"taskbeacon:sweepRoleName": "x" * 49, "taskbeacon:memberRegions": "ap-southeast-10"},
            "taskbeacon:sweepRoleName",
        ),
        ({"taskbeacon:sweepCallsPerSecond": 0}, "taskbeacon:sweepCallsPerSecond"),
        ({"taskbeacon:sweepCallsPerSecond": 21}, "taskbeacon:sweepCallsPerSecond"),
        ({"taskbeacon:sweepCallsPerSecond": "2.5"}, "taskbeacon:sweepCallsPerSecond"),
        # the sweeper role `<stackName>-sweeper` must fit IAM's 64 characters
        ({"taskbeacon:stackName": "A" * 57}, "taskbeacon:stackName"),
        ({"taskbeacon:retentionDays": "thirty"}, "taskbeacon:retentionDays"),
        ({"taskbeacon:retentionDays": 0}, "taskbeacon:retentionDays"),
        ({"taskbeacon:retentionDays": True}, "taskbeacon:retentionDays"),
        ({"taskbeacon:principalOrgId": "my-org"}, "taskbeacon:principalOrgId"),
        ({"taskbeacon:eventBusAccounts": ["12345"]}, "taskbeacon:eventBusAccounts"),
        (
            {"taskbeacon:collectorRoleArns": ["arn:aws:iam::123456789012:user/bob"]},
            "taskbeacon:collectorRoleArns",
        ),
        ({"taskbeacon:privateEndpoint": "maybe"}, "taskbeacon:privateEndpoint"),
        ({"taskbeacon:privateEndpoint": True}, "taskbeacon:vpcEndpointIds"),
        ({"taskbeacon:vpcEndpointIds": ["vpce-0123456789abcdef0"]}, "taskbeacon:vpcEndpointIds"),
        ({"taskbeacon:logRetentionDays": 42}, "taskbeacon:logRetentionDays"),
        ({"taskbeacon:stackName": "1bad name"}, "taskbeacon:stackName"),
        ({"taskbeacon:privateEndpiont": True}, "taskbeacon:privateEndpiont"),
        ({"taskbeacon:retentionDays": "²"}, "taskbeacon:retentionDays"),  # isdigit() but not a number
        ({"taskbeacon:retentionDays": "-5"}, "taskbeacon:retentionDays"),
        ({"taskbeacon:keepaliveSeconds": 29}, "taskbeacon:keepaliveSeconds"),
        ({"taskbeacon:alarmTopicArn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "taskbeacon:alarmTopicArn"),
        (
            {"taskbeacon:privateEndpoint": True, "taskbeacon:vpcEndpointIds": "vpc-123"},
            "taskbeacon:vpcEndpointIds",
        ),
        ({"taskbeacon:readerPrincipalArns": ["*"]}, "taskbeacon:readerPrincipalArns"),
        (
            {"taskbeacon:readerPrincipalArns": "arn:aws:iam::123456789012:role/*"},
            "taskbeacon:readerPrincipalArns",
        ),
        (
            {"taskbeacon:readerPrincipalArns": ["arn:aws:iam::123456789012:user/bob"]},
            "taskbeacon:readerPrincipalArns",
        ),
        ({"taskbeacon:readerPrincipalArns": ["12345678901"]}, "taskbeacon:readerPrincipalArns"),
        ({"taskbeacon:readerPrincipalArns": "o-abc123def456"}, "taskbeacon:readerPrincipalArns"),
        ({"taskbeacon:readerPrincipalArns": {"a": 1}}, "taskbeacon:readerPrincipalArns"),
        ({"taskbeacon:tracing": "sometimes"}, "taskbeacon:tracing"),
        ({"taskbeacon:reconcileIntervalHours": 0}, "taskbeacon:reconcileIntervalHours"),
        ({"taskbeacon:reconcileIntervalHours": "25"}, "taskbeacon:reconcileIntervalHours"),
        ({"taskbeacon:throttleBurstLimit": 5001}, "taskbeacon:throttleBurstLimit"),
        ({"taskbeacon:throttleRateLimit": 10_001}, "taskbeacon:throttleRateLimit"),
    ],
)
def test_bad_values_name_the_key(context: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        config_from_context(context)


def test_app_py_reports_bad_context_and_exits_2(tmp_path: object) -> None:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"taskbeacon:retentionDays": "soon"}),
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid configuration: context key 'taskbeacon:retentionDays'" in result.stderr
