"""Template properties that matter: runtime, auth, table, least privilege, events, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_synth import Synth

from core.store import schema
from infra.api import QUERY_ROUTES

pytestmark = pytest.mark.cdk

WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def _statements(synth: Synth, role_fragment: str) -> list[dict[str, Any]]:
    """All statements of the inline policies attached to the role whose logical id contains the fragment."""
    found: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        roles = [ref["Ref"] for ref in policy["Properties"]["Roles"]]
        if any(role_fragment in role for role in roles):
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert found, f"no policy for role {role_fragment}"
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _function_roles(synth: Synth) -> dict[str, str]:
    """handler -> role logical id."""
    return {
        fn["Properties"]["Handler"]: fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in synth.resources("AWS::Lambda::Function").values()
    }


# --- Lambda -----------------------------------------------------------------------------------


def test_three_functions_python313_arm64_traced(any_synth: Synth) -> None:
    functions = any_synth.resources("AWS::Lambda::Function")
    handlers = sorted(fn["Properties"]["Handler"] for fn in functions.values())
    assert handlers == ["handlers.events.handler", "handlers.ingest.handler", "handlers.query.handler"]
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_environment_variables(default_synth: Synth, full_synth: Synth) -> None:
    expected = {
        "TABLE_NAME",
        "COLLECTOR_ROLE_ARNS",
        "STOPPED_RETENTION_DAYS",
        "KEEPALIVE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "DESCRIBE_TASKS_CROSS_CHECK",
    }
    for fn in default_synth.resources("AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert expected <= env.keys()
        assert env["POWERTOOLS_SERVICE_NAME"] == "taskbeacon"
        assert env["STOPPED_RETENTION_DAYS"] == "30"
        assert env["DESCRIBE_TASKS_CROSS_CHECK"] == "false"
    for fn in full_synth.resources("AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["STOPPED_RETENTION_DAYS"] == "45"
        assert env["DESCRIBE_TASKS_CROSS_CHECK"] == "true"
        assert env["COLLECTOR_ROLE_ARNS"] == "arn:aws:iam::123456789012:role/ecs-instance-collector"


def test_each_function_logs_to_its_own_log_group_with_retention(default_synth: Synth) -> None:
    log_groups = default_synth.resources("AWS::Logs::LogGroup")
    seen = set()
    for fn in default_synth.resources("AWS::Lambda::Function").values():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[group]["Properties"]["RetentionInDays"] == 90
        seen.add(group)
    assert len(seen) == 3


def test_no_docker_built_assets(default_synth: Synth) -> None:
    # One zip asset shared by the three functions; nothing from a container image.
    keys = {
        fn["Properties"]["Code"]["S3Key"] for fn in default_synth.resources("AWS::Lambda::Function").values()
    }
    assert len(keys) == 1
    assert all(
        "ImageUri" not in fn["Properties"]["Code"]
        for fn in default_synth.resources("AWS::Lambda::Function").values()
    )


# --- API ----------------------------------------------------------------------------------------


def test_every_method_uses_iam_auth(any_synth: Synth) -> None:
    methods = any_synth.resources("AWS::ApiGateway::Method")
    assert len(methods) == 1 + len(QUERY_ROUTES)
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert "RequestValidatorId" in method["Properties"]


def test_routes(default_synth: Synth) -> None:
    parts = sorted(
        r["Properties"]["PathPart"] for r in default_synth.resources("AWS::ApiGateway::Resource").values()
    )
    assert parts == sorted(["snapshots", "tasks", "{taskId}", "history", "search", "summary", "openapi.json"])
    verbs = sorted(
        m["Properties"]["HttpMethod"] for m in default_synth.resources("AWS::ApiGateway::Method").values()
    )
    assert verbs == ["GET"] * len(QUERY_ROUTES) + ["POST"]


def test_stage_logs_throttles_and_traces(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "MethodSettings": [
                Match.object_like(
                    {
                        "ThrottlingRateLimit": 100,
                        "ThrottlingBurstLimit": 200,
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                    }
                )
            ],
        },
    )
    default_synth.template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "THROTTLED", "ResponseParameters": {"gatewayresponse.header.Retry-After": "'1'"}},
    )


def test_gateway_rejections_have_the_apis_error_shape(default_synth: Synth) -> None:
    """Local mode's gateway answers IAM and size rejections in this shape; the stack must too."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in default_synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"} <= set(responses)
    for response in responses.values():
        template = response["ResponseTemplates"]["application/json"]
        shaped = template.replace("$context.error.messageString", '"m"').replace(
            "$context.error.responseType", "MISSING_AUTHENTICATION_TOKEN"
        )
        assert json.loads(shaped) == {
            "error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "m", "field": None}
        }


def test_resource_policy_default_admits_own_account_only(default_synth: Synth) -> None:
    (api,) = default_synth.resources("AWS::ApiGateway::RestApi").values()
    statements = api["Properties"]["Policy"]["Statement"]
    assert [s["Sid"] for s in statements] == ["OwnAccount"]
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_resource_policy_organization_and_private_endpoint(full_synth: Synth) -> None:
    (api,) = full_synth.resources("AWS::ApiGateway::RestApi").values()
    statements = {s["Sid"]: s for s in api["Properties"]["Policy"]["Statement"]}
    assert statements["Organization"]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abc123def456"}
    }
    deny = statements["OnlyThroughVpcEndpoints"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["StringNotEquals"]["aws:SourceVpce"] == [
        "vpce-0123456789abcdef0",
        "vpce-0fedcba9876543210",
    ]
    assert api["Properties"]["EndpointConfiguration"] == {
        "Types": ["PRIVATE"],
        "VpcEndpointIds": ["vpce-0123456789abcdef0", "vpce-0fedcba9876543210"],
    }


# --- Table --------------------------------------------------------------------------------------


def test_table_definition_comes_from_schema(default_synth: Synth) -> None:
    (table,) = default_synth.resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
    ]
    assert props["KeySchema"] == schema.create_table_request()["KeySchema"]
    assert props["AttributeDefinitions"] == schema.create_table_request()["AttributeDefinitions"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert schema.TTL_ATTRIBUTE == "expiresAt"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert "GlobalSecondaryIndexes" not in props
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


# --- Least privilege ----------------------------------------------------------------------------


def test_query_role_reads_only(any_synth: Synth) -> None:
    role = _function_roles(any_synth)["handlers.query.handler"]
    ddb = {a for s in _statements(any_synth, role) for a in _actions(s) if a.startswith("dynamodb:")}
    assert not ddb & WRITES
    assert ddb == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}


@pytest.mark.parametrize("handler", ["handlers.ingest.handler", "handlers.events.handler"])
def test_writer_roles_are_scoped(any_synth: Synth, handler: str) -> None:
    role = _function_roles(any_synth)[handler]
    actions = {a for s in _statements(any_synth, role) for a in _actions(s) if a.startswith("dynamodb:")}
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # index entries move inside the transaction (see test_iam_covers_the_store)
        "dynamodb:ConditionCheckItem",
    }


def test_no_dynamodb_wildcards_anywhere(any_synth: Synth) -> None:
    (table_id,) = any_synth.resources("AWS::DynamoDB::Table")
    for policy in any_synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _actions(statement)
            assert not any(a == "*" or a.endswith(":*") for a in actions), actions
            assert not actions & {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:BatchWriteItem"}
            if any(a.startswith("dynamodb:") for a in actions):
                assert statement["Resource"] == [{"Fn::GetAtt": [table_id, "Arn"]}]
            if statement["Resource"] == "*":
                assert actions <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_describe_tasks_only_when_enabled(default_synth: Synth, full_synth: Synth) -> None:
    def holders(synth: Synth) -> set[str]:
        roles = _function_roles(synth)
        return {
            h
            for h, role in roles.items()
            if any("ecs:DescribeTasks" in _actions(s) for s in _statements(synth, role))
        }

    assert holders(default_synth) == set()
    assert holders(full_synth) == {"handlers.ingest.handler"}


# --- Events -------------------------------------------------------------------------------------


def test_task_state_change_rule(default_synth: Synth) -> None:
    default_synth.template.resource_count_is("AWS::Events::Rule", 1)
    default_synth.template.resource_count_is("AWS::Events::EventBus", 0)
    (rule,) = default_synth.resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    (dlq_id,) = default_synth.resources("AWS::SQS::Queue")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    dlq = default_synth.resources("AWS::SQS::Queue")[dlq_id]
    assert dlq["DeletionPolicy"] == "Retain" and dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert "EventBusName" not in rule["Properties"]  # the account's default bus


def test_cross_account_bus_admits_listed_accounts_for_ecs_events_only(full_synth: Synth) -> None:
    full_synth.template.resource_count_is("AWS::Events::Rule", 2)
    (policy,) = full_synth.resources("AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    principals = statement["Principal"]["AWS"]
    assert len(principals) == 2
    assert "111111111111" in str(principals)
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"events:source": ["aws.ecs"]},
        "StringEquals": {"events:detail-type": "ECS Task State Change"},
    }
    assert "EventBusArn" in full_synth.raw["Outputs"]


# --- Monitoring and outputs ---------------------------------------------------------------------


def test_alarms_and_dashboard(default_synth: Synth, full_synth: Synth) -> None:
    alarms = default_synth.resources("AWS::CloudWatch::Alarm")
    # errors + throttles per function, API 5xx, table throttles, table system errors, DLQ depth
    assert len(alarms) == 3 * 2 + 4
    assert all("AlarmActions" not in a["Properties"] for a in alarms.values())
    default_synth.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    for alarm in full_synth.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:ops-alarms"]


def test_outputs(default_synth: Synth) -> None:
    outputs = default_synth.raw["Outputs"]
    assert {"ApiUrl", "TableName", "SnapshotsInvokeArn", "QueryInvokeArn"} <= outputs.keys()
    arn = str(outputs["SnapshotsInvokeArn"]["Value"])
    assert ":execute-api:" in arn
    assert "/v1/POST/snapshots" in arn


def test_api_execution_logs_expire_like_every_other_log(any_synth: Synth) -> None:
    days = 90 if any_synth.stack.stack_name == "TaskBeacon" else 30
    (api_id,) = any_synth.resources("AWS::ApiGateway::RestApi")
    groups = [
        g["Properties"]
        for g in any_synth.resources("AWS::Logs::LogGroup").values()
        if "LogGroupName" in g["Properties"]
    ]
    (execution,) = [g for g in groups if "API-Gateway-Execution-Logs_" in json.dumps(g["LogGroupName"])]
    assert execution["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/v1"]]
    }
    assert execution["RetentionInDays"] == days
    (stage,) = any_synth.resources("AWS::ApiGateway::Stage").values()
    group_id = next(
        k for k, g in any_synth.resources("AWS::Logs::LogGroup").items() if g["Properties"] is execution
    )
    assert group_id in stage.get("DependsOn", [])


def test_api_gateway_account_role_is_optional(default_synth: Synth, full_synth: Synth) -> None:
    assert len(default_synth.resources("AWS::ApiGateway::Account")) == 1
    assert full_synth.resources("AWS::ApiGateway::Account") == {}
