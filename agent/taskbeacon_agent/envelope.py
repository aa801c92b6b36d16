"""The snapshot envelope (DESIGN 3.2) and the change fingerprint used by sidecar/daemon modes."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading

from taskbeacon_agent import __version__
from taskbeacon_agent.sources import Collected

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Any, Callable, Dict, List, Optional

SCHEMA_VERSION = 1
REASONS = ("start", "change", "keepalive", "stop")
MAX_BODY_BYTES = 256 * 1024  # the API's default MAX_BODY_BYTES


def _uuid4() -> str:
    """str(uuid.uuid4()) without the uuid module (which loads more than it is worth here)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def rfc3339_now(now: Optional[datetime.datetime] = None) -> str:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EnvelopeBuilder:
    """One per agent process: owns the instanceId and the monotonic sequence."""

    def __init__(
        self,
        mode: str,
        instance_id: Optional[str] = None,
        clock: Optional[Callable[[], datetime.datetime]] = None,
    ) -> None:
        self.mode = mode
        self.instance_id = instance_id or _uuid4()
        self._clock = clock
        self._sequence = 0
        self._lock = threading.Lock()

    def build(self, collected: Collected, reason: str) -> Dict[str, Any]:
        if reason not in REASONS:
            raise ValueError("unknown reason")
        with self._lock:
            self._sequence += 1
            seq = self._sequence
        env: Dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "source": collected.source,
            "collectedAt": rfc3339_now(self._clock() if self._clock else None),
            "sequence": seq,
            "reason": reason,
            "agent": {"version": __version__, "mode": self.mode, "instanceId": self.instance_id},
        }
        if collected.tasks is not None:
            env["tasks"] = collected.tasks
        else:
            env["task"] = collected.task
        if collected.container is not None:
            env["container"] = collected.container
        if collected.stats is not None:
            env["stats"] = collected.stats
        return env


def encode(envelope: Dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """Serialise; if over the API's size limit drop the optional parts (stats, then container) first."""
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    for optional in ("stats", "container"):
        if len(body) <= limit:
            break
        if optional in envelope:
            envelope = {k: v for k, v in envelope.items() if k != optional}
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body


# Keys whose values move on every read without the task changing.
_VOLATILE_TASK_KEYS = ("ClockDrift", "EphemeralStorageMetrics")
_VOLATILE_CONTAINER_KEYS = ("ClockDrift",)


def _stable_container(c: Any) -> Any:
    if not isinstance(c, dict):
        return c
    out = {k: v for k, v in c.items() if k not in _VOLATILE_CONTAINER_KEYS}
    health = out.get("Health")
    if isinstance(health, dict):
        out["Health"] = {k: v for k, v in health.items() if k != "output"}
    return out


def _container_key(c: Any) -> str:
    if isinstance(c, dict):
        return "%s\0%s" % (c.get("Name") or "", c.get("DockerId") or "")
    return json.dumps(c, sort_keys=True)


def _stable_task(t: Any) -> Any:
    if not isinstance(t, dict):
        return t
    out = {k: v for k, v in t.items() if k not in _VOLATILE_TASK_KEYS}
    if isinstance(out.get("Errors"), list):
        # RequestId differs on every failed ListTagsForResource call.
        out["Errors"] = [
            {k: v for k, v in e.items() if k != "RequestId"} if isinstance(e, dict) else e
            for e in out["Errors"]
        ]
    if isinstance(out.get("Containers"), list):
        # The ECS agent builds Containers from a Go map: order is random between reads.
        out["Containers"] = sorted((_stable_container(c) for c in out["Containers"]), key=_container_key)
    return out


def fingerprint(collected: Collected) -> str:
    """Hash of what identifies a change: the task document(s) only.

    The reporting container's document (`${URI}`) is a second read of an entry that `Containers`
    already holds, so it adds no information, and hashing it would turn a torn read (task read
    before a change, container after) into an extra, spurious "change". Stats never count.
    """
    if collected.tasks is not None:
        tasks = sorted((_stable_task(t) for t in collected.tasks), key=task_key)
        material: Any = {"tasks": tasks}
    else:
        material = {"task": _stable_task(collected.task)}
    return _digest(material)


def task_fingerprint(task: Any) -> str:
    """Fingerprint of one task document (daemon mode tracks every task on the host separately)."""
    return _digest(_stable_task(task))


def task_key(task: Any) -> str:
    """Identity of a task document: introspection `Arn`, TMDE `TaskARN`."""
    if isinstance(task, dict):
        arn = task.get("Arn") or task.get("TaskARN")
        if arn:
            return str(arn)
    return json.dumps(task, sort_keys=True)


def _digest(material: Any) -> str:
    data = json.dumps(material, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


# Room for the envelope around the tasks (schemaVersion, agent, collectedAt, ...).
_ENVELOPE_OVERHEAD = 2048


def chunk_tasks(tasks: List[Any], limit: int = MAX_BODY_BYTES, max_count: int = 25) -> List[List[Any]]:
    """Split a host's tasks into groups that each fit one snapshot under the API's size limit.

    A busy EC2 host runs dozens of tasks; one envelope with all of them would exceed the limit (413)
    and make one slow request. A single oversized task still goes alone (the API decides).
    """
    chunks: List[List[Any]] = []
    current: List[Any] = []
    size = _ENVELOPE_OVERHEAD
    for task in tasks:
        n = len(json.dumps(task, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1
        if current and (size + n > limit or len(current) >= max_count):
            chunks.append(current)
            current, size = [], _ENVELOPE_OVERHEAD
        current.append(task)
        size += n
    if current:
        chunks.append(current)
    return chunks


def tag_errors(task: Any) -> List[str]:
    """`ErrorField: ErrorCode` of a /taskWithTags `Errors` array (the tag lookup failed, HTTP 200)."""
    errors = task.get("Errors") if isinstance(task, dict) else None
    if not isinstance(errors, list):
        return []
    out = []
    for e in errors:
        if isinstance(e, dict):
            out.append("%s: %s" % (e.get("ErrorField") or "?", e.get("ErrorCode") or "error"))
    return sorted(set(out))
