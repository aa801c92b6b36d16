"""Template properties that matter: runtime, auth, table, least privilege, events, outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra_synth import Synth, synth

from core import vocabulary
from core.store import schema
from infra import indexing
from infra.functions import SPECS

pytestmark = pytest.mark.cdk


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


# The one function that is not taskbeacon's: CDK's provider of `triggers.Trigger` (the sweep's run
# right after deploy, infra/sweep.py), a prebuilt Node.js handler shipped in aws-cdk-lib.
TRIGGER_PROVIDER = "AWSCDKTriggerCustomResourceProvider"


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """taskbeacon's own functions (the trigger provider left out)."""
    return {
        k: fn
        for k, fn in synth.resources("AWS::Lambda::Function").items()
        if not k.startswith(TRIGGER_PROVIDER)
    }


def _function_roles(synth: Synth) -> dict[str, str]:
    """handler -> role logical id."""
    return {
        fn["Properties"]["Handler"]: fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in _functions(synth).values()
    }


# --- Lambda -----------------------------------------------------------------------------------


def test_seven_functions_python313_arm64(any_synth: Synth) -> None:
    functions = _functions(any_synth)
    handlers = sorted(fn["Properties"]["Handler"] for fn in functions.values())
    assert handlers == sorted(
        [
            "handlers.events.handler",
            "handlers.indexer.handler",
            "handlers.ingest.handler",
            "handlers.query.handler",
            "handlers.reconciler.handler",
            "handlers.sweeper.plan_handler",
            "handlers.sweeper.work_handler",
        ]
    )
    assert sorted(spec.handler for spec in SPECS) == handlers
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
    others = set(any_synth.resources("AWS::Lambda::Function")) - set(functions)
    assert [k for k in others if not k.startswith(TRIGGER_PROVIDER)] == []


def test_tracing_is_off_by_default(default_synth: Synth) -> None:
    for fn in _functions(default_synth).values():
        props = fn["Properties"]
        assert "TracingConfig" not in props  # Lambda's default: PassThrough, nothing sampled here
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    (stage,) = default_synth.resources("AWS::ApiGateway::Stage").values()
    assert stage["Properties"].get("TracingEnabled", False) is False
    assert default_synth.resources("AWS::XRay::SamplingRule") == {}
    for policy in default_synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert not any(a.startswith("xray:") for a in _actions(statement))


def test_tracing_on_samples_one_percent_beyond_a_reservoir(full_synth: Synth) -> None:
    for fn in _functions(full_synth).values():
        props = fn["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"
    (stage,) = full_synth.resources("AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True
    (rule,) = full_synth.resources("AWS::XRay::SamplingRule").values()
    props = rule["Properties"]["SamplingRule"]
    assert props["FixedRate"] == 0.01
    assert props["ReservoirSize"] == 1
    assert props["ServiceName"] == "TaskBeaconFull/v1"  # this API stage only, not the account
    assert props["ServiceType"] == "AWS::ApiGateway::Stage"
    assert len(props["RuleName"]) <= 32


def test_environment_variables(default_synth: Synth, full_synth: Synth) -> None:
    expected = {
        "TABLE_NAME",
        "COLLECTOR_ROLE_ARNS",
        "STOPPED_RETENTION_DAYS",
        "KEEPALIVE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_TRACE_DISABLED",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "DESCRIBE_TASKS_CROSS_CHECK",
    }
    for fn in _functions(default_synth).values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert expected <= env.keys()
        assert env["POWERTOOLS_SERVICE_NAME"] == "taskbeacon"
        assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"  # no inventory in traces
        assert env["STOPPED_RETENTION_DAYS"] == "30"
        assert env["KEEPALIVE_SECONDS"] == "86400"  # the agents' 12-24 h keepalive
        assert env["DESCRIBE_TASKS_CROSS_CHECK"] == "false"
        # No organizationalUnitIds: the ingest does not expect events from the organization.
        assert env["EVENTS_FROM_ORGANIZATION"] == "false"
    for fn in _functions(full_synth).values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["STOPPED_RETENTION_DAYS"] == "45"
        assert env["DESCRIBE_TASKS_CROSS_CHECK"] == "true"
        assert env["EVENTS_FROM_ORGANIZATION"] == "true"  # organizationalUnitIds is set
        assert env["COLLECTOR_ROLE_ARNS"] == "arn:aws:iam::123456789012:role/ecs-instance-collector"


def test_each_function_logs_to_its_own_log_group_with_retention(default_synth: Synth) -> None:
    log_groups = default_synth.resources("AWS::Logs::LogGroup")
    seen = set()
    for fn in _functions(default_synth).values():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[group]["Properties"]["RetentionInDays"] == 90
        seen.add(group)
    assert len(seen) == len(SPECS)


def test_no_docker_built_assets(default_synth: Synth) -> None:
    # One zip asset shared by taskbeacon's functions (the trigger provider's is CDK's prebuilt file);
    # nothing from a container image.
    keys = {fn["Properties"]["Code"]["S3Key"] for fn in _functions(default_synth).values()}
    assert len(keys) == 1
    assert all(
        "ImageUri" not in fn["Properties"]["Code"]
        for fn in default_synth.resources("AWS::Lambda::Function").values()
    )


# --- API ----------------------------------------------------------------------------------------


def test_every_method_uses_iam_auth(any_synth: Synth) -> None:
    methods = any_synth.resources("AWS::ApiGateway::Method")
    assert len(methods) == len(vocabulary.ROUTES)
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert "RequestValidatorId" in method["Properties"]


def _route_paths(synth: Synth) -> set[tuple[str, str]]:
    """(method, path) of every method in the template, the path rebuilt from the resource tree."""
    resources = synth.resources("AWS::ApiGateway::Resource")
    (api_id,) = synth.resources("AWS::ApiGateway::RestApi")

    def path_of(ref: dict[str, Any]) -> str:
        if "Fn::GetAtt" in ref:
            assert ref["Fn::GetAtt"] == [api_id, "RootResourceId"]
            return ""
        resource = resources[ref["Ref"]]["Properties"]
        return path_of(resource["ParentId"]) + "/" + resource["PathPart"]

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]))
        for m in synth.resources("AWS::ApiGateway::Method").values()
    }


def test_routes_are_the_vocabularys(default_synth: Synth) -> None:
    expected = {(route.method, route.path) for route in vocabulary.ROUTES}
    assert _route_paths(default_synth) == expected
    assert ("POST", "/snapshots") in expected and ("GET", "/tasks/{taskId}/history") in expected


def test_routes_reach_their_functions(default_synth: Synth) -> None:
    handlers = {fn_id: fn["Properties"]["Handler"] for fn_id, fn in _functions(default_synth).items()}
    targets = set()
    for method in default_synth.resources("AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        (target,) = [h for fn_id, h in handlers.items() if fn_id in uri]
        targets.add((method["Properties"]["HttpMethod"], target))
    assert targets == {("POST", "handlers.ingest.handler"), ("GET", "handlers.query.handler")}


def test_stage_logs_and_throttles(default_synth: Synth) -> None:
    default_synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "MethodSettings": [
                Match.object_like(
                    {
                        # 1,000 starts + 1,000 stops a second, ~2 reports per task, plus retries
                        "ThrottlingRateLimit": 2500,
                        "ThrottlingBurstLimit": 5000,  # the account's regional burst quota
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
    assert props["StreamSpecification"] == {"StreamViewType": schema.STREAM_VIEW_TYPE}
    assert schema.create_table_request()["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": props["StreamSpecification"]["StreamViewType"],
    }
    assert "GlobalSecondaryIndexes" not in props
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


# --- Least privilege (per-function DynamoDB actions: test_iam_covers_the_store.py) ------------


def test_no_wildcards_and_every_table_action_on_the_table(any_synth: Synth) -> None:
    (table_id,) = any_synth.resources("AWS::DynamoDB::Table")
    for policy in any_synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _actions(statement)
            assert not any(a == "*" or a.endswith(":*") for a in actions), actions
            assert not actions & {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:PartiQLSelect"}
            stream = {a for a in actions if a in {"dynamodb:DescribeStream", "dynamodb:GetRecords"}}
            if stream:
                assert statement["Resource"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
            elif any(a.startswith("dynamodb:") for a in actions) and actions != {"dynamodb:ListStreams"}:
                assert statement["Resource"] == [{"Fn::GetAtt": [table_id, "Arn"]}]
            if statement["Resource"] == "*":
                # actions that support no resource-level permission (and so are acknowledged in nag.py)
                assert actions <= {
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "dynamodb:ListStreams",
                    "organizations:ListAccounts",
                }


def test_describe_tasks_only_when_enabled(default_synth: Synth, full_synth: Synth) -> None:
    def holders(synth: Synth) -> set[str]:
        roles = _function_roles(synth)
        return {
            h
            for h, role in roles.items()
            if any("ecs:DescribeTasks" in _actions(s) for s in _statements(synth, role))
        }

    # The sweep reads ECS only through the member roles (test_infra_sweep.py).
    assert holders(default_synth) == set()
    assert holders(full_synth) == {"handlers.ingest.handler"}


# --- Events -------------------------------------------------------------------------------------


def test_task_state_change_rule(default_synth: Synth) -> None:
    rules = default_synth.resources("AWS::Events::Rule")
    # + the reconcile and sweep schedules, agent pull failures
    default_synth.template.resource_count_is("AWS::Events::Rule", 4)
    rule = next(r for k, r in rules.items() if k.startswith("TaskEvents"))
    assert default_synth.central_buses() == {}
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        # only what the inventory needs (docs/decisions/infra.md): not the transitional states
        "detail": {
            "$or": [{"lastStatus": ["STOPPED"]}, {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]}]
        },
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    (dlq_id,) = [q for q in default_synth.resources("AWS::SQS::Queue") if q.startswith("EventsDlq")]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    dlq = default_synth.resources("AWS::SQS::Queue")[dlq_id]
    assert dlq["DeletionPolicy"] == "Retain" and dlq["Properties"]["SqsManagedSseEnabled"] is True
    assert "EventBusName" not in rule["Properties"]  # the account's default bus


ONLY_ECS_TASK_EVENTS = {
    "ForAllValues:StringEquals": {"events:source": ["aws.ecs"]},
    "StringEquals": {"events:detail-type": "ECS Task State Change"},
}


def _bus_statements(result: Synth) -> dict[str, dict[str, Any]]:
    """Sid -> statement of the central bus's policy (CDK prefixes the Sid with `cdk-`)."""
    statements = [
        p["Properties"]["Statement"] for p in result.resources("AWS::Events::EventBusPolicy").values()
    ]
    (bus_id,) = result.central_buses()
    for statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}
        assert statement["Action"] == "events:PutEvents" and statement["Effect"] == "Allow"
    return {s["Sid"].removeprefix("cdk-"): s for s in statements}


def test_central_bus_admits_the_organization_and_listed_accounts_for_ecs_events_only(
    full_synth: Synth,
) -> None:
    # + the bus's rule, 2 agent pull-failure rules, the sweep schedule
    full_synth.template.resource_count_is("AWS::Events::Rule", 6)
    for key, rule in full_synth.resources("AWS::Events::Rule").items():
        if key.startswith("TaskEvents"):
            assert rule["Properties"]["EventPattern"]["detail"] == {
                "$or": [
                    {"lastStatus": ["STOPPED"]},
                    {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]},
                ]
            }
    statements = _bus_statements(full_synth)
    assert set(statements) == {"EcsTaskEventsFromOrganization", "EcsTaskEventsFromAccounts"}
    # The whole organization, by aws:PrincipalOrgID: no list of accounts to keep up to date.
    organization = statements["EcsTaskEventsFromOrganization"]
    assert organization["Principal"] == {"AWS": "*"}
    assert organization["Condition"] == {
        "ForAllValues:StringEquals": {"events:source": ["aws.ecs"]},
        "StringEquals": {
            "aws:PrincipalOrgID": "o-abc123def456",
            "events:detail-type": "ECS Task State Change",
        },
    }
    # eventBusAccounts (setups without an organization, or accounts outside it) stays.
    accounts = statements["EcsTaskEventsFromAccounts"]
    principals = accounts["Principal"]["AWS"]
    assert len(principals) == 2
    assert "111111111111" in str(principals)
    assert accounts["Condition"] == ONLY_ECS_TASK_EVENTS
    assert "EventBusArn" in full_synth.raw["Outputs"]


def test_the_organization_alone_makes_the_bus(tmp_path: Path) -> None:
    org_only = synth({"taskbeacon:principalOrgId": "o-abc123def456"}, tmp_path)
    statements = _bus_statements(org_only)
    assert set(statements) == {"EcsTaskEventsFromOrganization"}
    assert statements["EcsTaskEventsFromOrganization"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == (
        "o-abc123def456"
    )
    (bus_id,) = org_only.central_buses()
    on_bus = [
        r["Properties"]
        for r in org_only.resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventBusName") == {"Ref": bus_id}
    ]
    # The events function's rule and the agent pull-failure rule listen on the bus too.
    assert len(on_bus) == 2
    events_fn = next(
        k
        for k, fn in _functions(org_only).items()
        if fn["Properties"]["Handler"] == "handlers.events.handler"
    )
    assert any(t["Arn"] == {"Fn::GetAtt": [events_fn, "Arn"]} for r in on_bus for t in r["Targets"])
    assert {"EventBusArn", "SweeperRoleArn", "MemberTemplate"} <= org_only.raw["Outputs"].keys()


# --- Monitoring and outputs ---------------------------------------------------------------------


def test_outputs(default_synth: Synth) -> None:
    outputs = default_synth.raw["Outputs"]
    assert {"ApiUrl", "TableName", "SnapshotsInvokeArn", "QueryInvokeArn", "SweeperRoleArn"} <= outputs.keys()
    # No bus without an organization or accounts: the member stack then only adds the read-only role.
    assert "EventBusArn" not in outputs
    hint = outputs["MemberTemplate"]["Value"]["Fn::Join"][1]
    assert hint[0] == "npx cdk deploy TaskBeaconMember --parameters CentralSweeperRoleArn="
    assert "CentralBusArn" not in json.dumps(hint)
    arn = str(outputs["SnapshotsInvokeArn"]["Value"])
    assert ":execute-api:" in arn
    assert "/v1/POST/snapshots" in arn


def test_api_execution_logs_expire_like_every_other_log(default_synth: Synth) -> None:
    (api_id,) = default_synth.resources("AWS::ApiGateway::RestApi")
    groups = [
        g["Properties"]
        for g in default_synth.resources("AWS::Logs::LogGroup").values()
        if "LogGroupName" in g["Properties"]
    ]
    (execution,) = [g for g in groups if "API-Gateway-Execution-Logs_" in json.dumps(g["LogGroupName"])]
    assert execution["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/v1"]]
    }
    assert execution["RetentionInDays"] == 90
    (stage,) = default_synth.resources("AWS::ApiGateway::Stage").values()
    group_id = next(
        k for k, g in default_synth.resources("AWS::Logs::LogGroup").items() if g["Properties"] is execution
    )
    assert group_id in stage.get("DependsOn", [])


def test_api_gateway_account_role_is_optional(default_synth: Synth, full_synth: Synth) -> None:
    (account,) = default_synth.resources("AWS::ApiGateway::Account").values()
    assert "CloudWatchRoleArn" in account["Properties"]
    assert full_synth.resources("AWS::ApiGateway::Account") == {}


def test_without_the_account_role_the_stage_needs_none(full_synth: Synth) -> None:
    """manageApiGatewayAccount=false: no execution logs, no access logs (both need the account's
    CloudWatch role, which this deployment then neither creates nor may rely on)."""
    assert full_synth.stack.config.manage_api_gateway_account is False
    (stage,) = full_synth.resources("AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert "AccessLogSetting" not in props
    assert [s["LoggingLevel"] for s in props["MethodSettings"]] == ["OFF"]
    assert all(s["DataTraceEnabled"] is False for s in props["MethodSettings"])
    # Per-method metrics are billed (docs/cost.md); the API-wide ones are free and need no role.
    assert all(s["MetricsEnabled"] is False for s in props["MethodSettings"])
    groups = json.dumps(full_synth.resources("AWS::Logs::LogGroup"))
    assert "API-Gateway-Execution-Logs_" not in groups
    assert not [k for k in full_synth.resources("AWS::Logs::LogGroup") if "AccessLogs" in k]
    assert not [k for k in full_synth.resources("AWS::IAM::Role") if "CloudWatchRole" in k]


# --- Indexer: a poison record is isolated, parked by task key, and reindexed -------------------


def _indexer_mapping(synth: Synth) -> dict[str, Any]:
    """The event source mapping of the table's stream (other mappings read queues)."""
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in json.dumps(m["Properties"].get("EventSourceArn"))
    ]
    return dict(mapping)


def test_indexer_mapping_splits_on_error_and_resumes_partial_batches(any_synth: Synth) -> None:
    """The handler's isolation of a poison record (handlers/indexer.py) relies on both settings."""
    props = _indexer_mapping(any_synth)
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # More retries than the splits that isolate one record of a full batch, whether or not a split
    # uses up a retry (AWS does not say): the poison record is alone before the retries run out.
    splits = math.ceil(math.log2(props["BatchSize"]))
    assert props["MaximumRetryAttempts"] > splits
    configured = (props["BatchSize"], props["MaximumRetryAttempts"])
    assert configured == (indexing.BATCH_SIZE, indexing.RETRY_ATTEMPTS)


def test_indexer_parks_poison_records_in_its_failure_queue(any_synth: Synth) -> None:
    from core.environment import FAILURE_QUEUE_ENV

    props = _indexer_mapping(any_synth)
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    (indexer,) = [
        fn["Properties"]
        for fn in any_synth.resources("AWS::Lambda::Function").values()
        if fn["Properties"]["Handler"] == "handlers.indexer.handler"
    ]
    # The same queue as the mapping's on-failure destination, by URL, and the role may send to it.
    assert indexer["Environment"]["Variables"][FAILURE_QUEUE_ENV] == {"Ref": queue_id}
    role = indexer["Role"]["Fn::GetAtt"][0]
    sends = [
        s
        for s in _statements(any_synth, role)
        if "sqs:SendMessage" in _actions(s) and s["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert sends
    # No other function is told where the queue is.
    for fn in any_synth.resources("AWS::Lambda::Function").values():
        if fn["Properties"]["Handler"] != "handlers.indexer.handler":
            assert FAILURE_QUEUE_ENV not in fn["Properties"].get("Environment", {}).get("Variables", {})
    # Operators find it for `taskbeacon reindex --failure-queue URL`.
    assert any_synth.raw["Outputs"]["IndexerFailureQueueUrl"]["Value"] == {"Ref": queue_id}
