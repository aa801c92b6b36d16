"""The one place that creates Logger, Tracer and Metrics, so every handler logs and measures alike.

Creating them only reads configuration (POWERTOOLS_* variables); no I/O happens at import.

Tracing is off in the stack by default (``POWERTOOLS_TRACE_DISABLED=true``), and Powertools'
``Tracer`` imports the X-Ray SDK (about a third of a handler's cold start) even when disabled.
``tracer`` therefore decides once, with Powertools' own rule, whether tracing is on: only then does
it build the real ``Tracer`` and hand its decorators out; otherwise its decorators return the
function unchanged and the SDK is never imported.

Metrics (namespace ``TaskBeacon``, dimension ``service``): ``SnapshotsAccepted``, ``EventsAccepted``,
``NormalizeLatency`` (ms), ``WriteItems``; ``Rejected`` counts every refused request or event, once
with ``service`` only (the total) and once with ``service`` + ``reason`` (the error code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing.tracer import Tracer

SERVICE = "taskbeacon"
NAMESPACE = "TaskBeacon"
REJECTED = "Rejected"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

_F = TypeVar("_F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Powertools' own rule: off with ``POWERTOOLS_TRACE_DISABLED``, outside Lambda, in SAM/Chalice."""
    from aws_lambda_powertools.tracing.tracer import Tracer  # cheap: the X-Ray SDK is lazy in there

    return not Tracer._is_tracer_disabled()


def _unchanged(function: _F) -> _F:
    return function


class LazyTracer:
    """Powertools' ``Tracer`` when tracing is on (built on first use); pass-through decorators when off."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Tracer | None = None
        self._enabled: bool | None = None

    @property
    def enabled(self) -> bool:
        if self._enabled is None:
            self._enabled = tracing_enabled()
        return self._enabled

    @property
    def real(self) -> Tracer:
        """The Powertools tracer (imports the X-Ray SDK): only for code that runs with tracing on."""
        if self._tracer is None:
            from aws_lambda_powertools.tracing.tracer import Tracer

            self._tracer = Tracer(service=self.service)
        return self._tracer

    def capture_lambda_handler(
        self, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[_F], _F]:
        if not self.enabled:
            return _unchanged
        return self.real.capture_lambda_handler(
            capture_response=capture_response, capture_error=capture_error
        )

    def capture_method(
        self, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[_F], _F]:
        if not self.enabled:
            return _unchanged
        return self.real.capture_method(capture_response=capture_response, capture_error=capture_error)

    def reset(self) -> None:
        """Decide again from the environment (tests that switch tracing on and off)."""
        self._enabled = None


tracer = LazyTracer(SERVICE)


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


__all__ = [
    "NAMESPACE",
    "REJECTED",
    "SERVICE",
    "LazyTracer",
    "MetricUnit",
    "count_rejection",
    "logger",
    "metrics",
    "tracer",
    "tracing_enabled",
]
