"""Local mode as one object: engine + table + handlers' environment + gateway + credentials."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from taskbeacon.local.aws.engine import (
    DEFAULT_ENGINE,
    LOCAL_KEY,
    DynamoDBLocalEngine,
    EmbeddedEngine,
    engine_client,
    ensure_table,
    make_engine,
    use_lambdas_source,
)
from taskbeacon.local.aws.gateway import Gateway
from taskbeacon.local.aws.indexer_mapping import ChildStreamPump, mapping_pump
from taskbeacon.local.aws.lambda_context import quiet_metrics_warning
from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.principals import COLLECTOR_ROLE_NAME, Principal, PrincipalRegistry
from taskbeacon.local.aws.stream_pump import Pump, StreamPumpError

log = logging.getLogger("taskbeacon.local")

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
    engine: str = DEFAULT_ENGINE  # the engine to start when no dynamodb_endpoint is given
    table_name: str = TABLE_NAME
    log_level: str = "WARNING"
    # The embedded engine's tables in a child process (its own core); `taskbeacon local` does this.
    tables_in_child: bool = False
    registry: PrincipalRegistry = field(init=False)
    gateway: Gateway = field(init=False)
    operator: Principal = field(init=False)
    stream: Pump | None = field(init=False, default=None)
    _engine: EmbeddedEngine | DynamoDBLocalEngine | None = field(init=False, default=None)

    def start(self) -> LocalSystem:
        """Start the engine (unless given an endpoint), the table, the stream pump and the gateway (whose
        runtime delivers the stream to the indexer in the background).

        Raises ``EngineUnavailable`` when the engine cannot run here (the message says what to install).
        """
        use_lambdas_source()
        endpoint = self.dynamodb_endpoint
        if endpoint is None:
            self._engine = make_engine(self.engine, tables_in_child=self.tables_in_child)
            endpoint = self._engine.start()
        else:
            self.engine = "external"
        self.dynamodb_endpoint = endpoint
        try:
            self._configure_handlers(endpoint)
            ensure_table(endpoint, self.region, self.table_name)
            self.stream = self._stream_pump(endpoint)
            self.registry = PrincipalRegistry(self.account_id)
            self.operator = self.registry.operator()
            self.gateway = Gateway(self.registry, LambdaRuntime(stream=self.stream), self.host, self.port)
            self.gateway.start()
        except BaseException:
            self._stop_indexer()
            self._stop_engine()
            raise
        return self

    def stop(self) -> None:
        try:
            self.gateway.stop()  # and the runtime's background stream delivery
        finally:
            self._stop_indexer()
            self._stop_engine()

    def settle(self) -> None:
        """Return once the indexer has taken every write the API finished before this call."""
        self.gateway.runtime.settle()

    def _stop_indexer(self) -> None:
        """The indexer's own process, when it has one (taskbeacon/local/aws/indexer_mapping.py)."""
        if isinstance(self.stream, ChildStreamPump):
            self.stream.stop()

    def _stop_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()

    def _stream_pump(self, endpoint: str) -> Pump | None:
        """The event source mapping: the table's stream into the indexer handler
        (taskbeacon/local/aws/indexer_mapping.py), in a process of its own when the tables are in one."""
        child = self._engine.child if isinstance(self._engine, EmbeddedEngine) else None
        try:
            if child is not None:
                return ChildStreamPump(child, endpoint, self.table_name, self.region)
            return mapping_pump(engine_client(endpoint, self.region), self.table_name, self.region)
        except StreamPumpError as error:
            log.warning("%s: index entries and counters will not follow writes", error)
            return None

    @property
    def url(self) -> str:
        return self.gateway.url

    def _configure_handlers(self, endpoint: str) -> None:
        """The environment the Lambda functions get from the stack, pointed at the local engine."""
        from core.environment import environment

        os.environ.update(
            {
                **environment(
                    table_name=self.table_name,
                    collector_role_arns=f"arn:aws:iam::{self.account_id}:role/{COLLECTOR_ROLE_NAME}",
                    # Change events go to the in-process bus (GET /_local/events/published).
                    change_events_bus="local",
                ),
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": self.log_level,
            }
        )
        quiet_metrics_warning()
        # The handlers' DynamoDB client signs with these; moto accepts any key. They never leave the process.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ["AWS_ACCESS_KEY_ID"] = LOCAL_KEY
        os.environ["AWS_SECRET_ACCESS_KEY"] = LOCAL_KEY
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
