"""The one place that creates Logger, Tracer and Metrics, so every handler logs and measures alike.

Creating them only reads configuration (POWERTOOLS_* variables); no I/O happens at import.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "taskbeacon"
NAMESPACE = "TaskBeacon"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

__all__ = ["NAMESPACE", "SERVICE", "MetricUnit", "logger", "metrics", "tracer"]
