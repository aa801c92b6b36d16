"""Cost model at defaults, from the DynamoDB calls, items and sizes ``benchmarks/store.py`` measured.

Every price is a us-east-1 list price (2026, no free tier, no savings plans; sources in docs/cost.md)
and every assumption is a named constant with its reason beside it. Two profiles:

- A: 10,000 tasks living 7 days, replaced as they end (a 730-hour month: ~4.35 launches per task slot);
  reported as dollars a month.
- B: 10,000 concurrent tasks living 1 hour = 7.3 M launches a month; reported per 10,000 launches.

``run(store)`` takes the store benchmark's results and returns line items, totals, targets and
whether each target is met, with what stands in the way where it is not.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- prices (us-east-1, list, 2026) ---------------------------------------------------------------
API_REST_PER_MILLION = 3.50  # API Gateway REST API, first 333 M requests a month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_ARM_GB_SECOND = 0.0000133334  # arm64, first 7.5 B GB-s a month; INIT is billed since 2025-08
DDB_WRITE_PER_MILLION = 0.625  # on-demand write request units
DDB_READ_PER_MILLION = 0.125  # on-demand read request units
DDB_STORAGE_GB_MONTH = 0.25  # Standard table class, beyond the first 25 GB (free tier not counted)
DDB_STREAM_READS_FOR_LAMBDA = 0.0  # GetRecords by a Lambda event source mapping is free
LOGS_INGEST_PER_GB = 0.50  # CloudWatch Logs, Standard class, ingestion (storage after: $0.03/GB-mo)
METRIC_PER_MONTH = 0.30  # custom metric, first 10,000 metrics; prorated by the hour it has data
ALARM_METRIC_PER_MONTH = 0.10  # standard-resolution alarm, per metric it evaluates
XRAY_TRACES_PER_MILLION = 5.00  # traces recorded
EVENTBRIDGE_AWS_EVENTS = 0.0  # AWS service events on the default bus are free

# -- the deployment at defaults (infra/) ----------------------------------------------------------
MEMORY_MB = {"ingest": 512, "events": 512, "query": 512, "indexer": 1024, "reconciler": 1024}  # functions.py
ALARMS = 23  # infra/monitoring.py: 5 functions x (errors, throttles) + 2 API rates + 2 table + 6 rejections
# + 3 queues/lag. Metric-math alarms evaluate several metrics: the API rates 2 each, table throttles 2,
# table system errors 9 (one per operation), so AWS bills 34 alarm metrics, not 23 (see docs/cost.md).
ALARM_METRICS = 10 + 2 * 2 + 2 + 9 + 6 + 3
# Custom metrics with data every month (namespace TaskBeacon, dimension service): SnapshotsAccepted,
# EventsAccepted, NormalizeLatency, WriteItems, CounterDrift; Rejected (total and by reason) has data
# only in hours with rejections and is left out. Powertools' ColdStart metric is not captured. The
# indexer emits none (Lambda's Errors and IteratorAge say whether it keeps up).
CUSTOM_METRICS = 5
TRACING_ON_BY_DEFAULT = False  # infra/config.py tracing=False; when on: 1 % beyond a 1/s reservoir
RECONCILE_EVERY_HOURS = 6  # infra/config.py reconcile_interval_hours
RETENTION_DAYS = 30  # stopped tasks expire after this many days (TTL deletes are free)

# -- the agents at defaults -----------------------------------------------------------------------
KEEPALIVE_MEAN_HOURS = 18.0  # sidecar: a random 12-24 h after every snapshot sent
KEEPALIVE_MIN_HOURS = 12.0
CHANGES_PER_LAUNCH = 0.5  # a sidecar reports "maybe a change": one every other task (assumption)
STOP_SNAPSHOTS_PER_LAUNCH = 1.0  # the sidecar's stop on SIGTERM (the entrypoint hook sends start only)
# EventBridge: ~9 state changes per Fargate task; the rule passes lastStatus RUNNING or STOPPED, i.e.
# RUNNING, the "RUNNING, desired STOPPED" announcement and STOPPED: 3 (infra/events.py).
EVENTS_RUNNING_PER_LAUNCH = 2.0  # costed as the measured RUNNING event (a record update)
EVENTS_STOPPED_PER_LAUNCH = 1.0

# -- runtime assumptions (not measured here: no AWS account in this run) --------------------------
DURATION_MS = {"ingest": 40, "events": 35, "query": 120, "indexer": 60, "reconciler": 30_000}
INIT_MS = 900  # a cold start's INIT (Powertools + pydantic + boto3 imports), billed at the memory size
COLD_START_SHARE = 0.01  # share of invocations that start a new environment at steady traffic
LAMBDA_PLATFORM_LOG_BYTES = 330  # START, END and REPORT lines per invocation
LOG_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs counts per log event
LOG_BYTES_ASSUMED = 1_400  # an accepted report's own lines (used when the measurement below fails)
INDEXER_LOG_BYTES = 700  # the indexer's EMF blob per invocation (assumption)
QUERY_PAGES_PER_MONTH = 20_000  # operators and tooling reading GET /tasks, /search (assumption)
SUMMARIES_PER_MONTH = 5_000
STREAM_SHARDS = 4  # a table of this size has a handful of stream shards (assumption)
BATCH_WINDOW_S = 1.0  # infra/indexing.py BATCHING_WINDOW_SECONDS
SECONDS_PER_MONTH = (
    730 * 3600
)  # the 730-hour month AWS bills by: 10,000 x 730 h of 1-h tasks = 7.3 M launches
DDB_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each item for storage

TARGET_A_PER_MONTH = 5.00
TARGET_B_PER_10K_LAUNCHES = 0.15


@dataclass
class Profile:
    name: str
    concurrent_tasks: int
    lifetime_hours: float
    per: str  # "month" or "10k launches"
    lines: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    wru_per_launch: dict[str, tuple[float, float]] = field(default_factory=dict)  # kind: (request, indexer)

    @property
    def launches(self) -> float:
        return self.concurrent_tasks * (SECONDS_PER_MONTH / 3600) / self.lifetime_hours


def keepalives_per_launch(lifetime_hours: float) -> float:
    """Keepalives a sidecar sends in one task's life: none before the first 12 h, then one per mean 18 h."""
    if lifetime_hours < KEEPALIVE_MIN_HOURS:
        return 0.0
    return lifetime_hours / KEEPALIVE_MEAN_HOURS


def lambda_cost(function: str, invocations: float, duration_ms: float | None = None) -> float:
    gb = MEMORY_MB[function] / 1024
    ms = DURATION_MS[function] if duration_ms is None else duration_ms
    seconds = invocations * (ms + COLD_START_SHARE * INIT_MS) / 1000
    return invocations / 1e6 * LAMBDA_REQUESTS_PER_MILLION + seconds * gb * LAMBDA_ARM_GB_SECOND


def log_cost(lines_bytes: float, invocations: float, lines_per_invocation: float = 4) -> float:
    per = lines_bytes + LAMBDA_PLATFORM_LOG_BYTES + lines_per_invocation * LOG_EVENT_OVERHEAD
    return invocations * per / 1e9 * LOGS_INGEST_PER_GB


def model(profile: Profile, store: dict[str, Any], log_bytes: float) -> Profile:
    kinds = store["kinds"]
    launches = profile.launches
    counts = {
        "start": launches,
        "change": launches * CHANGES_PER_LAUNCH,
        "keepalive": launches * keepalives_per_launch(profile.lifetime_hours),
        "stop": launches * STOP_SNAPSHOTS_PER_LAUNCH,
        "event_running": launches * EVENTS_RUNNING_PER_LAUNCH,
        "event_stopped": launches * EVENTS_STOPPED_PER_LAUNCH,
        "ttl_expiry": launches,  # every stopped task expires RETENTION_DAYS later (steady state)
    }
    snapshots = counts["start"] + counts["change"] + counts["keepalive"] + counts["stop"]
    events = counts["event_running"] + counts["event_stopped"]

    wru = rru = 0.0
    records_to_indexer = 0.0
    by_kind: dict[str, tuple[float, float]] = {}
    for kind, n in counts.items():
        row = kinds[kind]
        share = n / launches
        by_kind[kind] = (share * row["request"]["write_units"], share * row["indexer"]["write_units"])
        wru += n * (row["request"]["write_units"] + row["indexer"]["write_units"])
        rru += n * (row["request"]["read_units"] + row["indexer"]["read_units"])
        records_to_indexer += n * row["indexer"]["invocations"]  # one record per measured invocation
    # The indexer is measured one record per invocation (the upper bound: at Profile A's rate the 1 s
    # batching window rarely holds two). At higher rates batches hold more records per invocation.
    rate = records_to_indexer / SECONDS_PER_MONTH
    per_batch = max(1.0, rate * BATCH_WINDOW_S / STREAM_SHARDS)
    indexer_invocations = records_to_indexer / per_batch

    pages = store["reads"]["list_all"]
    page_rru = sum(p["read_units"] for p in pages) / len(pages)
    summary_rru = store["reads"]["summary_cluster"]["read_units"]
    rru += QUERY_PAGES_PER_MONTH * page_rru + SUMMARIES_PER_MONTH * summary_rru

    storage = store["storage"]
    marker = storage.get("INDEXED", {}).get("mean_bytes", 1000)
    runs = SECONDS_PER_MONTH / 3600 / RECONCILE_EVERY_HOURS
    active = profile.concurrent_tasks
    # Two passes a run: the status entries of every active task (eventually consistent pages) and
    # their markers (BatchGetItem, consistent, 4 KB units each).
    status_entry = storage.get("IX", {}).get("mean_bytes", 300)
    reconcile_rru = runs * 2 * (active * math.ceil(marker / 4096) + active * status_entry / 4096 * 0.5)
    rru += reconcile_rru

    bytes_per_task = sum(
        (kind_stats["mean_bytes"] + DDB_ITEM_OVERHEAD) * kind_stats["items"]
        for kind_stats in storage.values()
    ) / max(1, store["reads"]["fleet"])
    stored_tasks = active + launches * RETENTION_DAYS / 30
    storage_gb = stored_tasks * bytes_per_task / 1e9

    queries = QUERY_PAGES_PER_MONTH + SUMMARIES_PER_MONTH
    lines = {
        "API Gateway REST (snapshots + queries)": (snapshots + queries) / 1e6 * API_REST_PER_MILLION,
        "Lambda ingest": lambda_cost("ingest", snapshots),
        "Lambda events": lambda_cost("events", events),
        "Lambda indexer": lambda_cost("indexer", indexer_invocations),
        "Lambda query": lambda_cost("query", queries),
        "Lambda reconciler": lambda_cost("reconciler", runs, DURATION_MS["reconciler"] * active / 10_000),
        "DynamoDB writes": wru / 1e6 * DDB_WRITE_PER_MILLION,
        "DynamoDB reads": rru / 1e6 * DDB_READ_PER_MILLION,
        "DynamoDB storage": storage_gb * DDB_STORAGE_GB_MONTH,
        "DynamoDB stream (read by Lambda)": DDB_STREAM_READS_FOR_LAMBDA,
        "CloudWatch Logs": log_cost(log_bytes, snapshots + events)
        + log_cost(INDEXER_LOG_BYTES, indexer_invocations, 2)
        + log_cost(log_bytes, queries),
        "CloudWatch custom metrics": CUSTOM_METRICS * METRIC_PER_MONTH,
        "CloudWatch alarms": ALARM_METRICS * ALARM_METRIC_PER_MONTH,
        "X-Ray (off by default)": xray_if_on(snapshots + events + queries) if TRACING_ON_BY_DEFAULT else 0.0,
        "EventBridge (AWS events, default bus)": events * EVENTBRIDGE_AWS_EVENTS,
    }
    profile.wru_per_launch = {kind: (round(a, 2), round(b, 2)) for kind, (a, b) in by_kind.items()}
    profile.notes = {
        "launches_per_month": f"{launches:,.0f}",
        "snapshots_per_month": f"{snapshots:,.0f}",
        "events_per_month": f"{events:,.0f}",
        "write_units_per_month": f"{wru:,.0f}",
        "read_units_per_month": f"{rru:,.0f}",
        "indexer_invocations_per_month": f"{indexer_invocations:,.0f}",
        "stored_gb": f"{storage_gb:.2f}",
        "xray_if_on_usd_month": f"{xray_if_on(snapshots + events + queries):.2f}",
    }
    scale = 1.0 if profile.per == "month" else 10_000 / launches
    profile.lines = {name: value * scale for name, value in lines.items()}
    return profile


def xray_if_on(requests: float) -> float:
    """A 1 request/s reservoir (per account, while traffic lasts) plus 1 % of the rest."""
    reservoir = min(requests, SECONDS_PER_MONTH)
    return (reservoir + 0.01 * (requests - reservoir)) / 1e6 * XRAY_TRACES_PER_MILLION


FIXED = ("CloudWatch custom metrics", "CloudWatch alarms")


def verdict(profile: Profile, target: float) -> dict[str, Any]:
    total = sum(profile.lines.values())
    out: dict[str, Any] = {
        "lines_usd": {name: round(value, 4) for name, value in profile.lines.items()},
        "total_usd": round(total, 4),
        "target_usd": target,
        "met": total <= target,
        "per": profile.per,
        "write_units_per_launch_request_indexer": profile.wru_per_launch,
        **profile.notes,
    }
    if total > target:
        over = total - target
        ranked = sorted(profile.lines.items(), key=lambda line: -line[1])
        fixed = sum(profile.lines[name] for name in FIXED)
        reasons = [f"{total - target:.3f} USD over the target"]
        if fixed >= over:
            reasons.append(
                f"the fixed monitoring lines ({', '.join(FIXED)}) alone are {fixed:.3f}: without them the "
                f"total is {total - fixed:.3f}. Fewer alarm metrics (one composite metric-math alarm per "
                "function, a single table alarm) and EMF metrics only where alarmed would remove it"
            )
        reasons.append("largest lines: " + ", ".join(f"{n} {v:.3f}" for n, v in ranked[:3]))
        writes = profile.lines.get("DynamoDB writes", 0.0)
        if writes > 0.2 * total and profile.wru_per_launch:
            request = sum(a for a, _ in profile.wru_per_launch.values())
            indexer = sum(b for _, b in profile.wru_per_launch.values())
            heavy = sorted(profile.wru_per_launch.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:3]
            reasons.append(
                f"DynamoDB writes are {request + indexer:.0f} WRU a launch ({request:.0f} request path, "
                f"{indexer:.0f} indexer); heaviest: "
                + ", ".join(f"{kind} {a:g}+{b:g}" for kind, (a, b) in heavy)
                + ". Every index entry costs at least 1 WRU on each put and delete, and the record "
                "(~5.5 KB of task JSON) costs 6-7 WRU per rewrite, x2 inside the start/change/stop "
                "transaction: fewer entries per task (let TTL delete them, free, instead of the indexer), "
                "a compressed record and no transaction would remove most of it (docs/cost.md)"
            )
        out["in_the_way"] = "; ".join(reasons)
    return out


def measure_log_bytes() -> tuple[float, str]:
    """Bytes of the log lines (JSON log + EMF) the ingest handler writes for one accepted report."""
    try:
        return _measure_log_bytes(), "measured: the ingest handler, once, on moto"
    except Exception as error:
        return float(LOG_BYTES_ASSUMED), f"assumed ({type(error).__name__}: {error})"


def _measure_log_bytes() -> int:
    import contextlib
    import io

    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto placeholder credentials)
        AWS_DEFAULT_REGION="us-east-1",
        TABLE_NAME="logbench",
        COLLECTOR_ROLE_ARNS="",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="taskbeacon",
        POWERTOOLS_METRICS_NAMESPACE="TaskBeacon",
    )
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    try:
        import boto3
        from moto import mock_aws

        from benchmarks.store import envelope, task_document
        from core.observability import logger
        from core.store.schema import create_table_request
        from handlers import ingest, wiring
        from taskbeacon.local.gateway import _proxy_event, match_route
        from taskbeacon.local.lambda_runtime import LocalContext
        from taskbeacon.local.principals import PrincipalRegistry

        with mock_aws():
            boto3.client("dynamodb", region_name="us-east-1").create_table(**create_table_request("logbench"))
            wiring.reset()
            from datetime import UTC, datetime

            _, doc = task_document(77)
            body = json.dumps(envelope(doc, "start", datetime.now(UTC), 1)).encode()
            principal = PrincipalRegistry("111122223333").task(doc["TaskARN"])
            route = match_route("POST", "/snapshots")
            assert route is not None
            template, parameters, _ = route
            headers = {"Host": "api.local", "Content-Type": "application/json"}
            event = _proxy_event(
                "POST", template, "/snapshots", "", parameters, headers, body, principal, "10.0.0.1"
            )
            buffer = io.StringIO()
            handler = logger.registered_handler
            stream = handler.setStream(buffer)  # type: ignore[attr-defined]
            try:
                with contextlib.redirect_stdout(buffer):
                    reply = ingest.handler(event, LocalContext(function_name="taskbeacon-ingest"))
            finally:
                handler.setStream(stream)  # type: ignore[attr-defined]
                wiring.reset()
            if reply["statusCode"] != 202:
                raise RuntimeError(f"ingest answered {reply['statusCode']}: {reply.get('body')}")
            return len(buffer.getvalue().encode())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(store: dict[str, Any]) -> dict[str, Any]:
    log_bytes, log_note = measure_log_bytes()
    a = model(Profile("A: 10,000 tasks living 7 days", 10_000, 7 * 24, "month"), store, log_bytes)
    b = model(Profile("B: 10,000 concurrent 1-hour tasks", 10_000, 1, "10k launches"), store, log_bytes)
    return {
        "accepted_report_log_bytes": log_bytes,
        "accepted_report_log_bytes_note": log_note,
        "profile_a": verdict(a, TARGET_A_PER_MONTH),
        "profile_b": verdict(b, TARGET_B_PER_10K_LAUNCHES),
    }


def report(cost: dict[str, Any]) -> str:
    lines = [
        f"accepted report log lines: {cost['accepted_report_log_bytes']:.0f} B "
        f"({cost['accepted_report_log_bytes_note']})"
    ]
    for key, title in (
        ("profile_a", "Profile A, USD a month"),
        ("profile_b", "Profile B, USD per 10k launches"),
    ):
        p = cost[key]
        lines.append(f"\n{title}")
        for name, value in p["lines_usd"].items():
            lines.append(f"  {name:<42} {value:>10.4f}")
        status = "met" if p["met"] else "NOT met"
        lines.append(f"  {'total':<42} {p['total_usd']:>10.4f}   target {p['target_usd']:.2f}: {status}")
        if not p["met"]:
            lines.append(f"  in the way: {p['in_the_way']}")
        lines.append(
            "  ("
            + ", ".join(
                f"{k} {p[k]}"
                for k in (
                    "launches_per_month",
                    "snapshots_per_month",
                    "events_per_month",
                    "write_units_per_month",
                    "read_units_per_month",
                    "indexer_invocations_per_month",
                    "stored_gb",
                    "xray_if_on_usd_month",
                )
            )
            + ")"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    results = Path(__file__).with_name("results") / "latest.json"
    stored = json.loads(results.read_text())["store"]
    print(report(run(stored)))
