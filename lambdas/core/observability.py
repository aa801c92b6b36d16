"""The one place that creates Logger, Tracer and Metrics, so every handler logs and measures alike.

Creating them only reads configuration (POWERTOOLS_* variables); no I/O happens at import.

Tracing is off in the stack by default (``POWERTOOLS_TRACE_DISABLED=true``), and Powertools'
``Tracer`` imports the X-Ray SDK (about a third of a handler's cold start) even when disabled.
``tracer`` therefore decides once, with Powertools' own rule, whether tracing is on: only then does
it build the real ``Tracer`` and hand its decorators out; otherwise its decorators return the
function unchanged and the SDK is never imported.

One custom metric, on purpose: ``Rejected`` (namespace ``TaskBeacon``, dimension ``service``)
counts the refused requests and events a human must look at. CloudWatch bills every name and
dimension set as a metric of its own ($0.30 a month each), so the reason is not a dimension: it is
in the log line of each rejection ("request rejected" / "event rejected", key ``code``). What was
measured per request before (accepted counts, normalize latency, items written) is in the handlers'
log lines, and Lambda's and DynamoDB's own metrics (Invocations, Duration, ConsumedWriteCapacity)
carry the rest for free (docs/cost.md "Fixed cost").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from core.environment import NAMESPACE, SERVICE
from core.errors import AmbiguousTask, InvalidCursor, NotFound

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing.tracer import Tracer

REJECTED = "Rejected"
# Normal client noise (an unknown id, a stale cursor, an id held by two accounts): logged, not counted.
QUIET_REASONS = frozenset({NotFound.code, InvalidCursor.code, AmbiguousTask.code})

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
    """One rejected request or event that may need a human; the caller logs ``reason`` beside it."""
    if reason not in QUIET_REASONS:
        metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)


__all__ = [
    "NAMESPACE",
    "QUIET_REASONS",
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
