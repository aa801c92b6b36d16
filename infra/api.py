"""The REST API: IAM auth on every method, resource policy, access logs, throttling, private option."""

from __future__ import annotations

import json
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

from infra.config import TaskBeaconConfig, log_retention
from infra.paths import errors, vocabulary

STAGE_NAME: Final = "v1"
# The routes come from the one vocabulary the handlers and the local gateway use.
SNAPSHOTS: Final = vocabulary.SNAPSHOTS
QUERY_ROUTES: Final = vocabulary.QUERY_ROUTES
XRAY_RESERVOIR_PER_SECOND: Final = 1
XRAY_FIXED_RATE: Final = 0.01


def policy_resource(route: vocabulary.Route) -> str:
    """The route in a resource policy: `execute-api:/<stage>/<METHOD>/<path>`, `{param}` as `*`."""
    path = "/".join("*" if part.startswith("{") else part for part in route.path.strip("/").split("/"))
    return f"execute-api:/{STAGE_NAME}/{route.method}/{path}"


def error_template() -> str:
    """API Gateway's own rejections (IAM 403, throttling 429, ...) in the API's error body.

    messageString is the message already quoted for JSON (what API Gateway's own default uses), so it
    stands in for a quoted placeholder rather than going through json.dumps.
    """
    placeholder = "MESSAGE"
    body = json.dumps(errors.error_body("$context.error.responseType", placeholder))
    return body.replace(json.dumps(placeholder), "$context.error.messageString")


class TaskBeaconApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingest: lambda_.IFunction,
        query: lambda_.IFunction,
        config: TaskBeaconConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        # Execution logs and access logs to CloudWatch Logs both need the account-level API Gateway
        # logging role (one per account and region). Without it the stage would fail to deploy, or
        # depend on a role nobody owns: with manageApiGatewayAccount=false the stage logs nothing to
        # CloudWatch Logs (its metrics, the functions' logs and CloudTrail remain).
        self.logging = config.manage_api_gateway_account
        access_log_destination, access_log_format = self._access_logs(config)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=cdk.Stack.of(self).stack_name,
            description="taskbeacon: inventory of Amazon ECS tasks",
            policy=resource_policy(config),
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[
                    apigw.EndpointType.PRIVATE if config.private_endpoint else apigw.EndpointType.REGIONAL
                ],
                vpc_endpoints=_vpc_endpoints(self, config.vpc_endpoint_ids) or None,
            ),
            cloud_watch_role=self.logging,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN if self.logging else None,
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=access_log_destination,
                access_log_format=access_log_format,
                logging_level=(
                    apigw.MethodLoggingLevel.ERROR if self.logging else apigw.MethodLoggingLevel.OFF
                ),
                data_trace_enabled=False,  # bodies carry task metadata; keep them out of logs
                tracing_enabled=config.tracing,
                # Per-method metrics are billed as custom metrics (about $10.50 a month for this
                # API's methods); the API-wide Count, 4XXError, 5XXError and Latency are free.
                metrics_enabled=False,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
            ),
        )
        if self.logging:
            self._execution_logs(config)
        if config.tracing:
            self._sampling_rule()
        self._error_responses()
        # Body validation applies only to methods with a request model; POST /snapshots has none on
        # purpose, so the handler's 400s name the bad field (API Gateway's would be generic).
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        # No console test-invoke permissions: half the Lambda policy entries, none used in production.
        integrations = {
            "ingest": apigw.LambdaIntegration(ingest, allow_test_invoke=False),
            "query": apigw.LambdaIntegration(query, allow_test_invoke=False),
        }
        for route in vocabulary.ROUTES:
            params = {
                f"method.request.path.{part.strip('{}')}": True
                for part in route.path.split("/")
                if part.startswith("{")
            }
            self.api.root.resource_for_path(route.path).add_method(
                route.method,
                integrations[route.function],
                request_validator=validator,
                request_parameters=params or None,
            )
        stage = STAGE_NAME  # a literal keeps the exported ARNs readable
        self.snapshots_invoke_arn = self.api.arn_for_execute_api(SNAPSHOTS.method, SNAPSHOTS.path, stage)
        self.query_invoke_arn = self.api.arn_for_execute_api("GET", "/*", stage)

    def _access_logs(
        self, config: TaskBeaconConfig
    ) -> tuple[apigw.IAccessLogDestination | None, apigw.AccessLogFormat | None]:
        if not self.logging:
            return None, None
        group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        log_format = apigw.AccessLogFormat.json_with_standard_fields(
            caller=True,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=True,
        )
        return apigw.LogGroupLogDestination(group), log_format

    def _execution_logs(self, config: TaskBeaconConfig) -> None:
        # API Gateway would create this group itself on the first error, with no expiry; owning it
        # gives it the configured retention. The stage waits for it, so it exists before any log.
        group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{STAGE_NAME}",
            retention=log_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.api.deployment_stage.node.add_dependency(group)

    def _sampling_rule(self) -> None:
        # X-Ray's default rule (1 request a second + 5 %) costs more than the rest of a small
        # deployment; this one keeps a reservoir of 1 a second and 1 % of the rest, for this API
        # stage only (X-Ray names an API Gateway stage's service "<api name>/<stage>"). Functions
        # invoked by the API follow its decision; see docs/decisions/infra.md for the others.
        xray.CfnSamplingRule(
            self,
            "Sampling",
            sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                rule_name=f"{cdk.Stack.of(self).stack_name[:24]}-api",
                priority=100,
                reservoir_size=XRAY_RESERVOIR_PER_SECOND,
                fixed_rate=XRAY_FIXED_RATE,
                service_name=f"{cdk.Stack.of(self).stack_name}/{STAGE_NAME}",
                service_type="AWS::ApiGateway::Stage",
                host="*",
                http_method="*",
                url_path="*",
                resource_arn="*",
                version=1,
            ),
        )

    def _error_responses(self) -> None:
        templates = {"application/json": error_template()}
        self.api.add_gateway_response("Default4xx", type=apigw.ResponseType.DEFAULT_4_XX, templates=templates)
        self.api.add_gateway_response("Default5xx", type=apigw.ResponseType.DEFAULT_5_XX, templates=templates)
        # Clients back off on 429 by Retry-After (the agent honours it).
        self.api.add_gateway_response(
            "Throttled",
            type=apigw.ResponseType.THROTTLED,
            templates=templates,
            response_headers={"Retry-After": "'1'"},
        )


def resource_policy(config: TaskBeaconConfig) -> iam.PolicyDocument | None:
    """Who may call which route, beyond what the API's own account grants by IAM.

    With IAM auth, API Gateway allows a caller of the API's own account when its IAM policy *or*
    this policy allows it (and neither denies); a caller of another account needs both
    ("How API Gateway resource policies affect authorization workflow", API Gateway developer
    guide). So this policy never allows `*` to the API's own account: that would let every role of
    the own account call without any IAM grant. It only ever adds:
    - the organization (`aws:PrincipalOrgID`) on `POST /snapshots`, so every account's tasks can
      report (ingest then checks caller = task); the API's own account is excluded from that
      statement by `aws:PrincipalAccount`, so its callers still need an IAM grant;
    - the named readers (`readerPrincipalArns`) on the query routes;
    - with a private endpoint, the API's own account through the listed VPC endpoints (an account
      principal delegates to that account's IAM, so no caller gains anything its IAM does not
      grant), because a private API refuses every call until its resource policy grants access
      ("Access control for private APIs", API Gateway developer guide), and an explicit Deny of
      anything not arriving through those endpoints (a Deny wins over every Allow).
    With none of these there is no policy at all: the own account's IAM decides alone.
    """
    own_account = cdk.Aws.ACCOUNT_ID
    statements: list[iam.PolicyStatement] = []
    if config.private_endpoint:
        statements.append(
            iam.PolicyStatement(
                sid="OnlyThroughVpcEndpoints",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
                conditions={"StringNotEquals": {"aws:SourceVpce": list(config.vpc_endpoint_ids)}},
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="OwnAccountThroughVpcEndpoints",
                principals=[iam.AccountPrincipal(own_account)],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
                conditions={"StringEquals": {"aws:SourceVpce": list(config.vpc_endpoint_ids)}},
            )
        )
    if config.principal_org_id:
        statements.append(
            iam.PolicyStatement(
                sid="OrganizationPostsSnapshots",
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[policy_resource(SNAPSHOTS)],
                conditions={
                    "StringEquals": {"aws:PrincipalOrgID": config.principal_org_id},
                    # The own account is left to its IAM (the sidecar construct grants task roles).
                    "StringNotEquals": {"aws:PrincipalAccount": own_account},
                },
            )
        )
    if config.reader_principal_arns:
        statements.append(
            iam.PolicyStatement(
                sid="NamedReaders",
                principals=[_principal(reader) for reader in config.reader_principal_arns],
                actions=["execute-api:Invoke"],
                resources=[policy_resource(route) for route in QUERY_ROUTES],
            )
        )
    return iam.PolicyDocument(statements=statements) if statements else None


def _principal(reader: str) -> iam.IPrincipal:
    # An account id delegates to that account's IAM (its callers also need an IAM grant there).
    return iam.ArnPrincipal(reader) if reader.startswith("arn:") else iam.AccountPrincipal(reader)


def _vpc_endpoints(scope: Construct, ids: tuple[str, ...]) -> list[ec2.IVpcEndpoint]:
    return [
        ec2.InterfaceVpcEndpoint.from_interface_vpc_endpoint_attributes(
            scope, f"Vpce{index}", port=443, vpc_endpoint_id=endpoint_id
        )
        for index, endpoint_id in enumerate(ids)
    ]
