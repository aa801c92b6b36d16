"""The one place that creates Logger, Tracer and Metrics, so every handler logs and measures alike.

Creating them only reads configuration (POWERTOOLS_* variables); no I/O happens at import.

Metrics (namespace ``TaskBeacon``, dimension ``service``): ``SnapshotsAccepted``, ``EventsAccepted``,
``NormalizeLatency`` (ms), ``WriteItems``; ``Rejected`` counts every refused request or event, once
with ``service`` only (the total) and once with ``service`` + ``reason`` (the error code).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "taskbeacon"
NAMESPACE = "TaskBeacon"
REJECTED = "Rejected"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def count_rejection(reason: str) -> None:
    """One rejected request: into the handler's aggregate blob, and by ``reason`` in a blob of its own.

    EMF applies a blob's dimensions to all its metrics, so the per-reason count (a dimension the
    other metrics must not get) is its own single-metric blob.
    """
    metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)
    if is_metrics_disabled():
        return
    with single_metric(
        name=REJECTED,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name="reason", value=reason)


__all__ = ["NAMESPACE", "REJECTED", "SERVICE", "MetricUnit", "count_rejection", "logger", "metrics", "tracer"]
