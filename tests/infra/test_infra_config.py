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


@pytest.mark.parametrize(
    ("context", "key"),
    [
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
