"""Invokes the real Lambda handlers in-process, one invocation at a time, as one Lambda instance would."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocalContext:
    """The attributes of ``LambdaContext`` the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LambdaRuntime:
    """Imports the handler modules on first use (after local mode has set the environment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        import importlib

        module = importlib.import_module(f"handlers.{function}")
        with self._lock:
            return module.handler(event, LocalContext(function_name=f"taskbeacon-{function}"))
