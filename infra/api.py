"""The REST API: IAM auth on every method, resource policy, access logs, throttling, private option."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import TaskBeaconConfig, log_retention

STAGE_NAME: Final = "v1"
QUERY_ROUTES: Final = (
    "/tasks",
    "/tasks/{taskId}",
    "/tasks/{taskId}/history",
    "/search",
    "/summary",
    "/openapi.json",
)

# API Gateway's own rejections (IAM 403, throttling 429, ...) use the API's error shape.
# messageString is the message already quoted for JSON (what API Gateway's own default uses).
_ERROR_TEMPLATE: Final = (
    '{"error": {"code": "$context.error.responseType", '
    '"message": $context.error.messageString, "field": null}}'
)


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
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=cdk.Stack.of(self).stack_name,
            description="taskbeacon: inventory of Amazon ECS tasks",
            policy=self._resource_policy(config),
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[
                    apigw.EndpointType.PRIVATE if config.private_endpoint else apigw.EndpointType.REGIONAL
                ],
                vpc_endpoints=_vpc_endpoints(self, config.vpc_endpoint_ids) or None,
            ),
            # Execution logging (ERROR) needs the account-level CloudWatch role (one per account and
            # region): CDK sets it unless taskbeacon:manageApiGatewayAccount is false.
            cloud_watch_role=config.manage_api_gateway_account,
            cloud_watch_role_removal_policy=(
                cdk.RemovalPolicy.RETAIN if config.manage_api_gateway_account else None
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # bodies carry task metadata; keep them out of logs
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
            ),
        )
        self._execution_logs(config)
        self._error_responses()
        # Body validation applies only to methods with a request model; POST /snapshots has none on
        # purpose, so the handler's 400s name the bad field (API Gateway's would be generic).
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        # No console test-invoke permissions: half the Lambda policy entries, none used in production.
        ingest_integration = apigw.LambdaIntegration(ingest, allow_test_invoke=False)
        query_integration = apigw.LambdaIntegration(query, allow_test_invoke=False)
        self.api.root.resource_for_path("/snapshots").add_method(
            "POST", ingest_integration, request_validator=validator
        )
        for path in QUERY_ROUTES:
            params = {"method.request.path.taskId": True} if "{taskId}" in path else None
            self.api.root.resource_for_path(path).add_method(
                "GET", query_integration, request_validator=validator, request_parameters=params
            )
        stage = STAGE_NAME  # a literal keeps the exported ARNs readable
        self.snapshots_invoke_arn = self.api.arn_for_execute_api("POST", "/snapshots", stage)
        self.query_invoke_arn = self.api.arn_for_execute_api("GET", "/*", stage)

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

    def _error_responses(self) -> None:
        templates = {"application/json": _ERROR_TEMPLATE}
        self.api.add_gateway_response("Default4xx", type=apigw.ResponseType.DEFAULT_4_XX, templates=templates)
        self.api.add_gateway_response("Default5xx", type=apigw.ResponseType.DEFAULT_5_XX, templates=templates)
        # Clients back off on 429 by Retry-After (the agent honours it).
        self.api.add_gateway_response(
            "Throttled",
            type=apigw.ResponseType.THROTTLED,
            templates=templates,
            response_headers={"Retry-After": "'1'"},
        )

    def _resource_policy(self, config: TaskBeaconConfig) -> iam.PolicyDocument:
        # IAM auth decides per caller; this policy bounds who may even try: the own account and,
        # optionally, every principal of one AWS Organization.
        statements = [
            iam.PolicyStatement(
                sid="OwnAccount",
                principals=[iam.AccountRootPrincipal()],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
            )
        ]
        if config.principal_org_id:
            statements.append(
                iam.PolicyStatement(
                    sid="Organization",
                    principals=[iam.AnyPrincipal()],
                    actions=["execute-api:Invoke"],
                    resources=["execute-api:/*"],
                    conditions={"StringEquals": {"aws:PrincipalOrgID": config.principal_org_id}},
                )
            )
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
        return iam.PolicyDocument(statements=statements)


def _vpc_endpoints(scope: Construct, ids: tuple[str, ...]) -> list[ec2.IVpcEndpoint]:
    return [
        ec2.InterfaceVpcEndpoint.from_interface_vpc_endpoint_attributes(
            scope, f"Vpce{index}", port=443, vpc_endpoint_id=endpoint_id
        )
        for index, endpoint_id in enumerate(ids)
    ]
