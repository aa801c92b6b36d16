"""Metadata sources. Each returns the raw documents exactly as read; interpretation is server-side."""

from __future__ import annotations

import json
import time

from taskbeacon_agent import http, retry

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

SOURCES = ("tmde-v4", "tmde-v3", "tmde-v2", "metadata-file", "introspection")
AUTO_ORDER = ("tmde-v4", "tmde-v3", "tmde-v2", "metadata-file")
DEFAULT_TMDE_V2_URL = "http://169.254.170.2/v2"
DEFAULT_INTROSPECTION_URL = "http://localhost:51678/v1"
METADATA_MAX_BYTES = 2 * 1024 * 1024
# Metadata retries (agent restarting, 429/5xx): full jitter over 0.2 s, 0.4 s, 0.8 s ... capped at
# 2 s. The ECS agent rate-limits TMDE per task; a smaller base made retries bursty against it.
METADATA_BACKOFF_BASE = 0.2
METADATA_BACKOFF_CAP = 2.0


class SourceError(Exception):
    """The source could not deliver a document (absent, failing, or garbage)."""


class SourceUnavailable(SourceError):
    """The source does not exist here (env var unset, nothing listening): try the next one."""


class NotReady(SourceError):
    """The source exists but has no complete document yet (metadata file before READY)."""


class Options:
    def __init__(
        self,
        *,
        with_tags: bool = False,
        with_stats: bool = False,
        timeout: float = 1.0,
        probe_timeout: float = 0.25,
        deadline: Optional[float] = None,
        fetch: Optional[Callable[..., http.Response]] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.with_tags = with_tags
        self.with_stats = with_stats
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.deadline = deadline
        self.fetch = fetch or http.request
        self.sleep = sleep


class Collected:
    """What one collection produced; `tasks` is set only for introspection (daemon mode)."""

    def __init__(
        self,
        source: str,
        task: Optional[Dict[str, Any]] = None,
        tasks: Optional[List[Any]] = None,
        container: Optional[Dict[str, Any]] = None,
        stats: Optional[Any] = None,
    ) -> None:
        self.source = source
        self.task = task
        self.tasks = tasks
        self.container = container
        self.stats = stats


def _get_json(url: str, opts: Options, probe: bool = False, attempts: int = 4) -> Any:
    """GET a JSON document, retrying transient failures (agent restarting, 429, 5xx) within the deadline."""
    last = "no attempt"
    for attempt in range(attempts):
        try:
            resp = opts.fetch(
                "GET",
                url,
                timeout=opts.timeout,
                connect_timeout=opts.probe_timeout if probe and attempt == 0 else None,
                deadline=opts.deadline,
                max_bytes=METADATA_MAX_BYTES,
            )
        except http.DeadlineExceeded as exc:
            raise SourceError("time budget exhausted") from exc
        except http.HttpError as exc:
            if probe and attempt == 0:
                # Nothing listening on the probed address: this source does not exist here.
                raise SourceUnavailable(str(exc)) from None
            last = str(exc)
        else:
            if resp.ok:
                try:
                    return json.loads(resp.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise SourceError("response is not JSON") from None
            last = "HTTP %d" % resp.status
            if resp.status not in retry.RETRYABLE_STATUS and resp.status != 404:
                raise SourceError(last)
            if resp.status == 404 and probe:
                raise SourceUnavailable(last)
            delay = retry.parse_retry_after(resp.headers.get("retry-after"))
            if delay is not None:
                if not retry.sleep_within(delay, opts.deadline, opts.sleep):
                    raise SourceError(last + " (retry-after beyond budget)")
                continue
        if attempt + 1 >= attempts or not _back_off(attempt, opts):
            break
    raise SourceError(last)


def _back_off(attempt: int, opts: Options) -> bool:
    """Wait before the next metadata retry; False (without waiting) if that would pass the deadline."""
    wait = retry.backoff_delay(attempt, base=METADATA_BACKOFF_BASE, cap=METADATA_BACKOFF_CAP)
    return retry.sleep_within(wait, opts.deadline, opts.sleep)


def _optional(url: str, opts: Options) -> Optional[Any]:
    # Container document and stats are extras: their failure never fails the snapshot.
    try:
        return _get_json(url, opts, attempts=2)
    except SourceError:
        return None


def _tmde(uri: str, name: str, opts: Options) -> Collected:
    uri = uri.rstrip("/")
    task = _get_json(uri + ("/taskWithTags" if opts.with_tags else "/task"), opts)
    if not isinstance(task, dict):
        raise SourceError("task document is not an object")
    container = _optional(uri, opts)
    stats = _optional(uri + "/task/stats", opts) if opts.with_stats else None
    return Collected(
        name,
        task=task,
        container=container if isinstance(container, dict) else None,
        stats=stats if isinstance(stats, dict) else None,  # the API takes an object or nothing
    )


def collect_v4(env: Mapping[str, str], opts: Options) -> Collected:
    uri = env.get("ECS_CONTAINER_METADATA_URI_V4")
    if not uri:
        raise SourceUnavailable("ECS_CONTAINER_METADATA_URI_V4 is not set")
    return _tmde(uri, "tmde-v4", opts)


def collect_v3(env: Mapping[str, str], opts: Options) -> Collected:
    uri = env.get("ECS_CONTAINER_METADATA_URI")
    if not uri:
        raise SourceUnavailable("ECS_CONTAINER_METADATA_URI is not set")
    return _tmde(uri, "tmde-v3", opts)


def collect_v2(env: Mapping[str, str], opts: Options, probe: bool = True) -> Collected:
    base = (env.get("TASKBEACON_TMDE_V2_URL") or DEFAULT_TMDE_V2_URL).rstrip("/")
    path = "/metadataWithTags" if opts.with_tags else "/metadata"
    task = _get_json(base + path, opts, probe=probe)
    if not isinstance(task, dict):
        raise SourceError("task document is not an object")
    stats = _optional(base + "/stats", opts) if opts.with_stats else None
    return Collected("tmde-v2", task=task, stats=stats if isinstance(stats, dict) else None)


def read_metadata_file(path: str) -> Dict[str, Any]:
    # Re-open on every read: the ECS agent replaces the file atomically (rename).
    try:
        with open(path, "rb") as fh:
            raw = fh.read(METADATA_MAX_BYTES + 1)
    except OSError:
        raise SourceUnavailable("metadata file cannot be read") from None
    if len(raw) > METADATA_MAX_BYTES:
        raise SourceError("metadata file too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # A reader may race the writer on non-Linux hosts: treat as not ready, not as fatal.
        raise NotReady("metadata file is not complete JSON yet") from None
    if not isinstance(doc, dict):
        raise SourceError("metadata file is not an object")
    # Before READY the status key is absent (INITIAL is dropped by omitempty), never "NOT_READY".
    if doc.get("MetadataFileStatus") != "READY":
        raise NotReady("metadata file is not READY yet")
    return doc


def collect_metadata_file(env: Mapping[str, str], opts: Options, poll: float = 0.2) -> Collected:
    path = env.get("ECS_CONTAINER_METADATA_FILE")
    if not path:
        raise SourceUnavailable("ECS_CONTAINER_METADATA_FILE is not set")
    while True:
        try:
            return Collected("metadata-file", task=read_metadata_file(path))
        except NotReady:
            # Without a deadline there is nobody to bound the wait: report "not ready" at once.
            if opts.deadline is None or not retry.sleep_within(poll, opts.deadline, opts.sleep):
                raise


def collect_introspection(env: Mapping[str, str], opts: Options) -> Collected:
    base = (env.get("TASKBEACON_INTROSPECTION_URL") or DEFAULT_INTROSPECTION_URL).rstrip("/")
    doc = _get_json(base + "/tasks", opts, probe=True)
    tasks = doc.get("Tasks") if isinstance(doc, dict) else None
    if not isinstance(tasks, list):
        raise SourceError("introspection /tasks has no Tasks array")
    return Collected("introspection", tasks=tasks)


def advertised_source(env: Mapping[str, str]) -> Optional[str]:
    """The best TMDE the ECS agent announced in the environment, if any.

    A long-running mode sticks to it: a brief outage of v4 is then retried on v4, never answered
    by falling back to another source whose documents differ.
    """
    if env.get("ECS_CONTAINER_METADATA_URI_V4"):
        return "tmde-v4"
    if env.get("ECS_CONTAINER_METADATA_URI"):
        return "tmde-v3"
    return None


def collect(env: Mapping[str, str], source: Optional[str], opts: Options) -> Collected:
    """Collect from the forced source, or from the first source that answers in AUTO_ORDER."""
    if source == "introspection":
        return collect_introspection(env, opts)
    if source:
        return _one(source, env, opts, probe=False)
    errors: List[Tuple[str, str]] = []
    not_ready: Optional[NotReady] = None
    for name in AUTO_ORDER:
        try:
            return _one(name, env, opts, probe=True)
        except NotReady as exc:
            not_ready = exc
            errors.append((name, str(exc)))
        except SourceError as exc:
            errors.append((name, str(exc)))
    if not_ready is not None:
        raise not_ready
    raise SourceUnavailable("no metadata source answered: " + "; ".join("%s: %s" % e for e in errors))


def _one(name: str, env: Mapping[str, str], opts: Options, probe: bool) -> Collected:
    if name == "tmde-v4":
        return collect_v4(env, opts)
    if name == "tmde-v3":
        return collect_v3(env, opts)
    if name == "tmde-v2":
        return collect_v2(env, opts, probe=probe)
    if name == "metadata-file":
        return collect_metadata_file(env, opts)
    if name == "introspection":
        return collect_introspection(env, opts)
    raise SourceError("unknown source %r" % name)
