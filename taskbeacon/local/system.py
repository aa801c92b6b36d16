"""Local mode as one object: engine + table + handlers' environment + gateway + credentials."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from taskbeacon.local.engine import EmbeddedEngine, ensure_table, use_lambdas_source
from taskbeacon.local.gateway import Gateway
from taskbeacon.local.lambda_runtime import LambdaRuntime
from taskbeacon.local.principals import COLLECTOR_ROLE_NAME, Principal, PrincipalRegistry

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "us-east-1"
TABLE_NAME = "taskbeacon-local"


@dataclass
class LocalSystem:
    host: str = "127.0.0.1"
    port: int = 0
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT
    dynamodb_endpoint: str | None = None
    table_name: str = TABLE_NAME
    log_level: str = "WARNING"
    registry: PrincipalRegistry = field(init=False)
    gateway: Gateway = field(init=False)
    operator: Principal = field(init=False)
    _engine: EmbeddedEngine | None = field(init=False, default=None)

    def start(self) -> LocalSystem:
        use_lambdas_source()
        endpoint = self.dynamodb_endpoint
        if endpoint is None:
            self._engine = EmbeddedEngine()
            endpoint = self._engine.start()
        self.dynamodb_endpoint = endpoint
        self._configure_handlers(endpoint)
        ensure_table(endpoint, self.region, self.table_name)
        self.registry = PrincipalRegistry(self.account_id)
        self.operator = self.registry.operator()
        self.gateway = Gateway(self.registry, LambdaRuntime(), self.host, self.port)
        self.gateway.start()
        return self

    def stop(self) -> None:
        self.gateway.stop()
        if self._engine is not None:
            self._engine.stop()

    @property
    def url(self) -> str:
        return self.gateway.url

    def _configure_handlers(self, endpoint: str) -> None:
        """The environment the Lambda functions get from the stack, pointed at the local engine."""
        os.environ.update(
            {
                "TABLE_NAME": self.table_name,
                "COLLECTOR_ROLE_ARNS": f"arn:aws:iam::{self.account_id}:role/{COLLECTOR_ROLE_NAME}",
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "POWERTOOLS_SERVICE_NAME": "taskbeacon",
                "POWERTOOLS_METRICS_NAMESPACE": "TaskBeacon",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": self.log_level,
            }
        )
        # The handlers' DynamoDB client signs with these; moto accepts any key. They never leave the process.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ["AWS_ACCESS_KEY_ID"] = "local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105 - moto accepts any key
        from core.store import dynamo
        from handlers import wiring

        dynamo.client.cache_clear()
        wiring.reset()

    def write_env_file(self, path: Path) -> Path:
        """Shell ``export`` lines so the CLI, curl --aws-sigv4 or any SigV4 tool reach local mode."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            "# taskbeacon local mode: operator credentials (valid while `taskbeacon local` runs)",
            f"export TASKBEACON_ENDPOINT={self.url}",
            f"export AWS_ACCESS_KEY_ID={self.operator.access_key}",
            f"export AWS_SECRET_ACCESS_KEY={self.operator.secret_key}",
            "unset AWS_SESSION_TOKEN AWS_PROFILE",
            f"export AWS_REGION={self.region}",
            f"export AWS_DEFAULT_REGION={self.region}",
        ]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path
