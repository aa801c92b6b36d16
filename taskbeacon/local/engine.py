"""The embedded DynamoDB engine (moto's server on loopback) and the table the stack deploys."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"


def use_lambdas_source() -> None:
    """Make the server code importable exactly as it is laid out in the Lambda asset."""
    if not (LAMBDAS_DIR / "handlers").is_dir():
        raise RuntimeError(f"server code not found at {LAMBDAS_DIR}; run taskbeacon local from a checkout")
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))


class EmbeddedEngine:
    """moto's DynamoDB, in this process, bound to 127.0.0.1 only."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()


def ensure_table(endpoint: str, region: str, table_name: str) -> None:
    """Create the table (and TTL) from the one schema definition, unless it exists already."""
    import boto3

    use_lambdas_source()
    from core.store.schema import create_table_request, time_to_live_request

    client: Any = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    if table_name in client.list_tables().get("TableNames", []):
        return
    client.create_table(**create_table_request(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # Engines without TTL support (dynalite) still work: reads hide expired items anyway.
    with contextlib.suppress(client.exceptions.ClientError):
        client.update_time_to_live(**time_to_live_request(table_name))
