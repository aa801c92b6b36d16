"""The context object a Lambda handler receives, as local mode's runtime and stream pump build it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


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


def quiet_metrics_warning() -> None:
    """Metrics are off locally, yet Powertools still warns that an invocation published none: noise in
    a terminal (issue 15: a quiet terminal). For every process that runs the handlers."""
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
