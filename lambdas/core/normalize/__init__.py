"""Normalizers: raw ECS metadata (five snapshot sources) and EventBridge events to ``Observation``.

Pure functions, no I/O. Every client mistake raises ``core.errors.InvalidInput`` whose
``field`` is the dotted/indexed path into the request body (``task.Containers[2].Networks``);
no other exception escapes.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from core.errors import InvalidInput
from core.model.envelope import Envelope
from core.model.task import Observation
from core.normalize import eventbridge, introspection, metadata_file, tmde_v2, tmde_v3, tmde_v4

__all__ = ["normalize_event", "normalize_snapshot", "parse_envelope"]

_SOURCES: dict[str, Callable[[Envelope], list[Observation]]] = {
    "tmde-v4": tmde_v4.normalize,
    "tmde-v3": tmde_v3.normalize,
    "tmde-v2": tmde_v2.normalize,
    "metadata-file": metadata_file.normalize,
    "introspection": introspection.normalize,
}


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def parse_envelope(body: object) -> Envelope:
    """Validate the snapshot envelope (DESIGN 3.2); the first problem becomes ``InvalidInput``."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    try:
        return Envelope.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = _field_path(first["loc"]) or str((first.get("ctx") or {}).get("field") or "body")
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


def normalize_snapshot(body: object) -> list[Observation]:
    """A ``POST /snapshots`` body to one observation per task it describes (several for daemons)."""
    env = parse_envelope(body)
    return _SOURCES[env.source](env)


def normalize_event(event: object) -> Observation:
    """An EventBridge ``ECS Task State Change`` event to one observation (``source="event"``)."""
    return eventbridge.normalize(event)
