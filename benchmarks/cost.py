"""Cost model at defaults, split the way DESIGN section 6 states its goals.

- **Fixed**, USD a month: a deployment with no tasks and no queries (goal <= 1.50). CloudWatch bills
  each metric an alarm evaluates ($0.10; every metric inside a metric-math alarm counts, so merging
  alarms saves nothing) and each custom metric, one per name and dimension set ($0.30).
- **Per 10,000 launches** of 1-hour tasks: write units a launch (goal <= 35) and USD (goal <= 0.30).
- **Per 10,000 running task-months** (goal <= 2.50 USD): what a task costs for being alive a month,
  whatever its launches: keepalives, the reconciler's and the sweep's share, its items stored.
- **Per 10,000 list pages** of 100 tasks (goal <= 0.20 USD, <= 110 read units a page).

The DynamoDB figures are the calls, items and sizes ``benchmarks/store.py`` measured on the real
write path and indexer; every price is a us-east-1 list price (2026, no free tier, no savings plans;
sources in docs/cost.md) and every assumption a named constant with its reason beside it. Nothing
here imports infra/ (that would import aws_cdk): the deployment's figures are constants of this
module, and tests/benchmarks/test_cost_arithmetic.py checks them against infra.monitoring,
infra.config, infra.functions and the synthesized stack (alarms, queues, polled queues, dashboards).

``run(store)`` returns the line items of each part, the figures beside their goals, and what stands
in the way where a goal is not met; ``report`` prints them.
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
DDB_PITR_GB_MONTH = 0.20  # continuous backups (PITR), billed on the table's size while it is on
DDB_STREAM_READS_FOR_LAMBDA = 0.0  # GetRecords by a Lambda event source mapping is free
LOGS_INGEST_PER_GB = 0.50  # CloudWatch Logs, Standard class
LOGS_STORAGE_GB_MONTH = 0.03  # archived log data, for as long as the retention keeps it
# CloudWatch, with infra/monitoring.py's names (the test checks the two agree)
ALARM_METRIC_USD = 0.10  # a standard-resolution alarm, per metric it evaluates
CUSTOM_METRIC_USD = 0.30  # one per name and dimension set, first 10,000; prorated by the hour
DASHBOARD_USD = 3.00  # per dashboard a month
XRAY_TRACES_PER_MILLION = 5.00  # traces recorded
EVENTBRIDGE_AWS_EVENTS = 0.0  # AWS service events on the default bus are free
# An event a rule sends to a bus in another account (or region) is a custom event, billed to the
# sender's account; the receiving account pays nothing.
EVENTBRIDGE_CUSTOM_PER_MILLION = 1.00
SQS_REQUESTS_PER_MILLION = 0.40  # standard queues, beyond the first million a month (free tier not counted)

# -- the deployment at defaults (infra/, commit 4c81ee5) ------------------------------------------
MEMORY_MB = {  # infra/functions.py
    "ingest": 512,
    "events": 512,
    "query": 512,
    "indexer": 1024,
    "reconciler": 1024,
    "sweep_planner": 512,
    "sweep_worker": 1024,
}
# infra/monitoring.py: 10 alarms; the API 4xx rate is a metric-math alarm over two metrics. The sweep
# adds none: its failed units and planning runs land in the events dead letters (infra/sweep.py).
ALARM_METRICS: dict[str, int] = {
    "Errors: events function": 1,
    "Errors: indexer function": 1,
    "Errors: reconciler function": 1,
    "API 5XXError (count)": 1,
    "API 4xx rate (4XXError, Count)": 2,
    "Rejected{service}": 1,
    "events dead-letter queue depth": 1,
    "indexer failure queue depth": 1,
    "indexer IteratorAge": 1,
    "AgentImagePullFailures (SQS NumberOfMessagesSent)": 1,
}
# Rejected{service}, the one custom metric (lambdas/core/observability.py). It is billed only for the
# hours it has data (hours with a rejection), so a quiet month costs less; counted as a full month.
CUSTOM_METRICS = 1
DASHBOARD_ON_BY_DEFAULT = False  # infra/config.py dashboard=False (taskbeacon:dashboard)
# API Gateway per-method ("detailed") metrics are off (infra/api.py MetricsEnabled false). On, each
# method would publish these, billed as custom metrics; the API-wide Count, 4XXError, 5XXError and
# Latency are free either way. (CacheHitCount and CacheMissCount need a cache, which the stage has not.)
API_METHOD_METRICS_ON_BY_DEFAULT = False
API_METRICS_PER_METHOD = 5  # Count, 4XXError, 5XXError, Latency, IntegrationLatency
API_METHODS_ASSUMED = 7  # core.vocabulary.ROUTES at f460925 (read from the code when importable)
PITR_ON = True  # infra/table.py point_in_time_recovery_enabled=True
API_ACCESS_LOGS_ON = True  # infra/api.py: with manageApiGatewayAccount (default true), one line a request
LOG_RETENTION_DAYS = 90  # infra/config.py log_retention_days: every log group
TRACING_ON_BY_DEFAULT = False  # infra/config.py tracing=False; when on: 1 trace a second, then 1 %
RECONCILE_EVERY_HOURS = 6  # infra/config.py reconcile_interval_hours
RETENTION_DAYS = 30  # stopped tasks expire after this many days (TTL deletes are free)
# SQS queues: the events dead letters, the indexer's failures, the agent pull failures; all at rest.
# None is polled: a queue behind a Lambda event source mapping is long-polled all month and SQS bills
# its empty receives, about 15 a minute when idle (5 pollers, 20 s long polls; the rate users observe,
# e.g. getlift/lift#132): 657,000 requests, $0.26 a month a queue. The sweep therefore has no queue:
# the planner and the worker's continuations invoke the worker asynchronously (infra/sweep.py).
QUEUES = 3
POLLED_QUEUES = 0
IDLE_RECEIVES_PER_MINUTE = 15
# The sweep (infra/sweep.py): a planner every 12 h, then one worker run per account-region; at
# defaults (no organization, no other accounts, no member regions) that is this account's region.
SWEEP_EVERY_HOURS = 12  # infra/config.py sweep_interval_hours
FIRST_LEASE_DAYS = 14  # lambdas/core/logic/lease.py: a record is kept max(stop + retention, lease)
RENEWED_LEASE_DAYS = 60
RENEW_MARGIN_DAYS = 3
# Change events out (docs/events.md), on by default: Task First Seen and IP Released for a launch of
# a 1-hour awsvpc task with one address, each a custom event on the stack's own bus.
CHANGE_EVENTS_PER_LAUNCH = 2.0
SWEEP_TARGETS = 1

# -- the agents and the fleet ---------------------------------------------------------------------
HOURS_PER_MONTH = 730  # the month AWS bills by
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
PER = 10_000  # every marginal figure is per 10,000 of its unit
LAUNCH_LIFETIME_HOURS = 1.0  # DESIGN section 6: launches of 1-hour tasks
KEEPALIVE_MEAN_HOURS = 18.0  # sidecar: a random 12-24 h after every snapshot sent (none in the first 12 h)
KEEPALIVES_PER_TASK_MONTH = HOURS_PER_MONTH / KEEPALIVE_MEAN_HOURS  # a task alive the whole month
CHANGES_PER_LAUNCH = 0.5  # a sidecar reports "maybe a change": one every other task (assumption)
# The sidecar sends no stop when the ingest answered that events are wired (agent stopReport "auto").
STOP_SNAPSHOTS_PER_LAUNCH = 0.0
# EventBridge: ~9 state changes per Fargate task; the rule passes RUNNING (desired RUNNING) and
# STOPPED: 2 (infra/events.py drops the "RUNNING, desired STOPPED" announcement).
EVENTS_RUNNING_PER_LAUNCH = 1.0  # the rule drops the "RUNNING, desired STOPPED" announcement
EVENTS_STOPPED_PER_LAUNCH = 1.0
# How many 1-hour tasks run at once when the indexer's batching is estimated (its invocations, not
# its write units, depend on the rate): 10,000, i.e. 7.3 M launches a month.
LAUNCH_FLEET_CONCURRENT = 10_000

# -- runtime assumptions (not measured here: no AWS account in this run) --------------------------
DURATION_MS = {"ingest": 40, "events": 35, "query": 120, "indexer": 60}
INIT_MS = 900  # a cold start's INIT (Powertools + pydantic + boto3 imports), billed at the memory size
COLD_START_SHARE = 0.01  # share of invocations that start a new environment at steady traffic
# The reconciler runs every 6 h, so every run is cold. Over an empty table a run is one pass over the
# live partition (lambdas/core/logic/reconcile.py): a Query per live shard, 8, 0.5 RRU each at least.
RECONCILER_IDLE_MS = 500  # 8 Queries at ~10 ms and the run's own work, rounded up (assumption)
RECONCILER_IDLE_PASSES = 1
RECONCILER_IDLE_QUERIES_PER_PASS = 8
RECONCILER_MS_PER_TASK = 3.0  # 30 s per 10,000 active tasks (assumption)
RECONCILER_LOG_BYTES = 400  # a run's own lines (assumption; the platform lines are added)
SWEEP_PLANNER_MS = 500  # lists the targets, invokes the worker asynchronously once each (assumption)
SWEEP_WORKER_IDLE_MS = 2_000  # assumes the member role, lists no clusters (assumption)
# ECS answers 100 task ARNs a ListTasks page and 100 tasks a DescribeTasks call, and the worker makes
# at most 5 calls a second (sweep_calls_per_second): 2 calls per 100 tasks = 4 ms of a worker per task.
SWEEP_MS_PER_TASK = 4.0
SWEEP_LOG_BYTES = 400  # a run's own lines (assumption)
LAMBDA_PLATFORM_LOG_BYTES = 330  # START, END and REPORT lines per invocation
LOG_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs counts per log event
LOG_BYTES_ASSUMED = 1_400  # an accepted report's own lines (used when the measurement below fails)
INDEXER_LOG_BYTES = 700  # the indexer's lines per invocation (assumption)
ACCESS_LOG_BYTES = 350  # one API access log line: request id, caller and user ARNs, time, status ...
STREAM_SHARDS = 4  # a table of this size has a handful of stream shards (assumption)
BATCH_WINDOW_S = 1.0  # infra/indexing.py BATCHING_WINDOW_SECONDS
DDB_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each item for storage
SUMMARY_READS_ASSUMED = 4.0  # RRU of GET /summary when the store benchmark has none

# -- goals (DESIGN section 6: us-east-1 list prices, REST front door, defaults) -------------------
FIXED_COST_GOAL_USD = 1.50  # a month
LAUNCH_WRU_GOAL = 35  # write units a launch of a 1-hour task
LAUNCHES_GOAL_USD = 0.30  # per 10,000 launches
TASK_MONTHS_GOAL_USD = 2.50  # per 10,000 running task-months
LIST_PAGES_GOAL_USD = 0.20  # per 10,000 list pages
PAGE_RRU_GOAL = 110  # read units a page of 100


@dataclass
class Part:
    """One part of the cost: its line items in USD (per month, or per 10,000 of its unit)."""

    title: str
    per: str
    lines: dict[str, float] = field(default_factory=dict)
    # Lines that are not in the total at defaults: opt-ins, or charges billed to other accounts.
    aside: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def log_retention_months() -> float:
    return LOG_RETENTION_DAYS * 24 / HOURS_PER_MONTH


def lambda_cost(
    function: str, invocations: float, duration_ms: float | None = None, cold_share: float = COLD_START_SHARE
) -> float:
    """Requests plus GB-seconds, INIT included for the share of invocations that start cold."""
    gb = MEMORY_MB[function] / 1024
    ms = DURATION_MS[function] if duration_ms is None else duration_ms
    seconds = invocations * (ms + cold_share * INIT_MS) / 1000
    return invocations / 1e6 * LAMBDA_REQUESTS_PER_MILLION + seconds * gb * LAMBDA_ARM_GB_SECOND


def invocation_log_bytes(lines_bytes: float, lines_per_invocation: int = 4) -> float:
    """A function's own lines plus the platform's START/END/REPORT, and CloudWatch's per-event overhead."""
    return lines_bytes + LAMBDA_PLATFORM_LOG_BYTES + lines_per_invocation * LOG_EVENT_OVERHEAD


def access_log_bytes(requests: float) -> float:
    return requests * (ACCESS_LOG_BYTES + LOG_EVENT_OVERHEAD) if API_ACCESS_LOGS_ON else 0.0


def log_ingestion_cost(total_bytes: float) -> float:
    return total_bytes / 1e9 * LOGS_INGEST_PER_GB


def log_storage_cost(total_bytes: float) -> float:
    """What a month's log bytes cost while the retention keeps them (counted uncompressed: an upper bound)."""
    return total_bytes / 1e9 * log_retention_months() * LOGS_STORAGE_GB_MONTH


def stored_bytes_per_task(store: dict[str, Any]) -> float:
    """Bytes one task holds in the table (record, keepalive item, entries, marker, its counter share)."""
    storage = store["storage"]
    total = sum((kind["mean_bytes"] + DDB_ITEM_OVERHEAD) * kind["items"] for kind in storage.values())
    return total / max(1, store["reads"]["fleet"])


def api_methods() -> int:
    """How many methods the API has (core.vocabulary.ROUTES), or the count at f460925."""
    try:
        if str(ROOT / "lambdas") not in sys.path:
            sys.path.insert(0, str(ROOT / "lambdas"))
        from core.vocabulary import ROUTES

        return len(ROUTES)
    except ImportError:
        return API_METHODS_ASSUMED


# -- fixed ----------------------------------------------------------------------------------------


def fixed(methods: int = API_METHODS_ASSUMED) -> Part:
    """A month of a deployment with no tasks and no queries."""
    alarm_metrics = sum(ALARM_METRICS.values())
    runs = HOURS_PER_MONTH / RECONCILE_EVERY_HOURS
    sweeps = HOURS_PER_MONTH / SWEEP_EVERY_HOURS
    idle_receives = POLLED_QUEUES * IDLE_RECEIVES_PER_MINUTE * 60 * HOURS_PER_MONTH
    idle_logs = runs * invocation_log_bytes(RECONCILER_LOG_BYTES) + sweeps * (
        1 + SWEEP_TARGETS
    ) * invocation_log_bytes(SWEEP_LOG_BYTES)
    idle_read_units = (
        runs * RECONCILER_IDLE_PASSES * RECONCILER_IDLE_QUERIES_PER_PASS * 0.5
    )  # 0.5 RRU a Query
    method_metrics = methods * API_METRICS_PER_METHOD * CUSTOM_METRIC_USD
    part = Part("Fixed", "month")
    part.lines = {
        f"CloudWatch alarm metrics ({alarm_metrics} x {ALARM_METRIC_USD:.2f})": alarm_metrics
        * ALARM_METRIC_USD,
        f"CloudWatch custom metrics ({CUSTOM_METRICS} x {CUSTOM_METRIC_USD:.2f})": CUSTOM_METRICS
        * CUSTOM_METRIC_USD,
        "CloudWatch dashboard (opt-in, off)": DASHBOARD_USD if DASHBOARD_ON_BY_DEFAULT else 0.0,
        "API Gateway per-method metrics (off)": method_metrics if API_METHOD_METRICS_ON_BY_DEFAULT else 0.0,
        f"SQS queues at rest ({QUEUES - POLLED_QUEUES}, not polled)": 0.0,
        f"SQS queues polled by Lambda ({POLLED_QUEUES}: the sweep invokes its worker asynchronously)": (
            idle_receives / 1e6 * SQS_REQUESTS_PER_MILLION
        ),
        f"reconciler schedule ({runs:.1f} cold runs, Lambda)": lambda_cost(
            "reconciler", runs, RECONCILER_IDLE_MS, cold_share=1.0
        ),
        f"reconciler reads at idle ({idle_read_units:,.0f} RRU)": idle_read_units
        / 1e6
        * DDB_READ_PER_MILLION,
        f"sweep schedule ({sweeps:.1f} cold planner and worker runs)": lambda_cost(
            "sweep_planner", sweeps, SWEEP_PLANNER_MS, cold_share=1.0
        )
        + lambda_cost("sweep_worker", sweeps * SWEEP_TARGETS, SWEEP_WORKER_IDLE_MS, cold_share=1.0),
        "log ingestion at idle": log_ingestion_cost(idle_logs),
        f"log storage at idle ({LOG_RETENTION_DAYS} days)": log_storage_cost(idle_logs),
        "X-Ray (off), EventBridge rules, empty table": 0.0,
    }
    part.aside = {
        "dashboard when on (taskbeacon:dashboard)": DASHBOARD_USD,
        f"per-method metrics when on ({methods} methods x {API_METRICS_PER_METHOD} x 0.30)": method_metrics,
        # A 1 request/s reservoir while traffic lasts, then 1 %: at most 2.628 M traces a month.
        "X-Ray when on: its 1/s reservoir, up to (+1 % beyond)": SECONDS_PER_MONTH
        / 1e6
        * XRAY_TRACES_PER_MILLION,
    }
    part.notes = {
        "alarm_metrics": alarm_metrics,
        "custom_metrics": CUSTOM_METRICS,
        "reconciler_runs": runs,
        "sweeps": sweeps,
        "idle_receives": idle_receives,
    }
    return part


# -- per 10,000 launches of 1-hour tasks ----------------------------------------------------------

LAUNCH_REPORTS = {  # reports a launch of a 1-hour task causes (no keepalive: the first comes after 12 h)
    "start": 1.0,
    "change": CHANGES_PER_LAUNCH,
    "stop": STOP_SNAPSHOTS_PER_LAUNCH,
    "event_running": EVENTS_RUNNING_PER_LAUNCH,
    "event_stopped": EVENTS_STOPPED_PER_LAUNCH,
    "ttl_expiry": 1.0,  # every stopped task expires RETENTION_DAYS later (the TTL delete is free)
}
SNAPSHOT_KINDS = ("start", "change", "keepalive", "keepalive_again", "stop")
EVENT_KINDS = ("event_running", "event_stopped")


def indexer_records_per_invocation(records_per_month: float) -> float:
    """Stream records an indexer invocation takes: one at low traffic, more when the 1 s window fills."""
    rate = records_per_month / SECONDS_PER_MONTH
    return max(1.0, rate * BATCH_WINDOW_S / STREAM_SHARDS)


def launches(store: dict[str, Any], log_bytes: float) -> Part:
    kinds = store["kinds"]
    snapshots = sum(n for kind, n in LAUNCH_REPORTS.items() if kind in SNAPSHOT_KINDS)
    events = sum(n for kind, n in LAUNCH_REPORTS.items() if kind in EVENT_KINDS)
    by_kind = {
        kind: (n * kinds[kind]["request"]["write_units"], n * kinds[kind]["indexer"]["write_units"])
        for kind, n in LAUNCH_REPORTS.items()
    }
    wru = sum(request + indexer for request, indexer in by_kind.values())
    rru = sum(
        n * (kinds[kind]["request"]["read_units"] + kinds[kind]["indexer"]["read_units"])
        for kind, n in LAUNCH_REPORTS.items()
    )
    records = sum(n * kinds[kind]["indexer"]["invocations"] for kind, n in LAUNCH_REPORTS.items())
    fleet_launches = LAUNCH_FLEET_CONCURRENT * HOURS_PER_MONTH / LAUNCH_LIFETIME_HOURS
    per_invocation = indexer_records_per_invocation(records * fleet_launches)
    indexer_invocations = records / per_invocation
    # A launch's items stay for its hour and RETENTION_DAYS after it stops.
    # A launch's items stay until its record expires: max(stop + retention, first sight + retention +
    # the first lease), so a 1-hour task's stay RETENTION_DAYS + FIRST_LEASE_DAYS.
    kept_hours = max(LAUNCH_LIFETIME_HOURS, FIRST_LEASE_DAYS * 24) + RETENTION_DAYS * 24
    stored_months = kept_hours / HOURS_PER_MONTH
    gb_months = PER * stored_bytes_per_task(store) / 1e9 * stored_months
    logs = (
        PER * (snapshots + events) * invocation_log_bytes(log_bytes)
        + PER * indexer_invocations * invocation_log_bytes(INDEXER_LOG_BYTES, 2)
        + access_log_bytes(PER * snapshots)
    )
    part = Part("Launches of 1-hour tasks", "10,000 launches")
    part.lines = {
        f"API Gateway REST ({snapshots:g} snapshots a launch)": PER * snapshots / 1e6 * API_REST_PER_MILLION,
        "Lambda ingest": lambda_cost("ingest", PER * snapshots),
        f"Lambda events ({events:g} events a launch)": lambda_cost("events", PER * events),
        f"Lambda indexer ({indexer_invocations:.2f} invocations a launch)": lambda_cost(
            "indexer", PER * indexer_invocations
        ),
        f"DynamoDB writes ({wru:g} WRU a launch)": PER * wru / 1e6 * DDB_WRITE_PER_MILLION,
        f"DynamoDB reads ({rru:g} RRU a launch)": PER * rru / 1e6 * DDB_READ_PER_MILLION,
        f"DynamoDB storage (kept {kept_hours / 24:.0f} days: the record's lease)": gb_months
        * DDB_STORAGE_GB_MONTH,
        "DynamoDB PITR (continuous backups)": gb_months * DDB_PITR_GB_MONTH if PITR_ON else 0.0,
        "DynamoDB stream (read by Lambda)": DDB_STREAM_READS_FOR_LAMBDA,
        "CloudWatch Logs ingestion": log_ingestion_cost(logs),
        f"CloudWatch Logs storage ({LOG_RETENTION_DAYS} days)": log_storage_cost(logs),
        "EventBridge (AWS events, default bus)": PER * events * EVENTBRIDGE_AWS_EVENTS,
        f"EventBridge change events out ({CHANGE_EVENTS_PER_LAUNCH:g} a launch)": PER
        * CHANGE_EVENTS_PER_LAUNCH
        / 1e6
        * EVENTBRIDGE_CUSTOM_PER_MILLION,
        "X-Ray (off)": 0.0,
    }
    part.aside = {
        "EventBridge from other accounts or regions (their bill)": PER
        * events
        / 1e6
        * EVENTBRIDGE_CUSTOM_PER_MILLION,
    }
    part.notes = {
        "write_units_per_launch": round(wru, 2),
        "write_units_by_kind": {kind: (round(a, 2), round(b, 2)) for kind, (a, b) in by_kind.items()},
        "read_units_per_launch": round(rru, 2),
        "indexer_records_per_invocation": round(per_invocation, 2),
        "stored_bytes_per_task": round(stored_bytes_per_task(store)),
        "log_bytes_per_launch": round(logs / PER),
    }
    return part


# -- per 10,000 running task-months ---------------------------------------------------------------


def task_months(store: dict[str, Any], log_bytes: float) -> Part:
    """10,000 tasks alive for a whole month: keepalives, the reconciler's and the sweep's passes, their items.

    Each sweep loads every running task it describes the way the recorder does (one strongly
    consistent Query of its record and keepalive item, lambdas/core/store/tasks.py ``TaskStore.load``); an
    unchanged task writes nothing (benchmarks/sweep.py states the same). ECS API calls are free.
    """
    kinds = store["kinds"]
    keepalive = kinds.get("keepalive_again", kinds["keepalive"])  # a running task's usual keepalive
    storage = store["storage"]
    keepalives = PER * KEEPALIVES_PER_TASK_MONTH
    keepalive_wru = keepalive["request"]["write_units"] + keepalive["indexer"]["write_units"]
    keepalive_rru = keepalive["request"]["read_units"] + keepalive["indexer"]["read_units"]
    runs = HOURS_PER_MONTH / RECONCILE_EVERY_HOURS
    live_entry = storage.get("IX", {}).get("mean_bytes", 300)
    # Each run reads the live entry of every task started before its first lease could run short
    # (eventually consistent pages); a task alive the month is among them. A lease is renewed every
    # RENEWED_LEASE_DAYS - RENEW_MARGIN_DAYS: the record's lease moves (one update of the record) and
    # the indexer writes the task's entries again, as many as a start writes.
    reconciler_rru = runs * live_entry / 4096 * 0.5
    renewals = HOURS_PER_MONTH / 24 / (RENEWED_LEASE_DAYS - RENEW_MARGIN_DAYS)
    renewal_wru = renewals * (
        kinds["event_running"]["request"]["write_units"] + kinds["start"]["indexer"]["write_units"]
    )
    reconciler_gb_s = runs * PER * RECONCILER_MS_PER_TASK / 1000 * MEMORY_MB["reconciler"] / 1024
    sweeps = HOURS_PER_MONTH / SWEEP_EVERY_HOURS
    sweep_gb_s = sweeps * PER * SWEEP_MS_PER_TASK / 1000 * MEMORY_MB["sweep_worker"] / 1024
    loaded = sum(storage.get(kind, {}).get("mean_bytes", 0) for kind in ("TASK", "SEEN"))
    sweep_rru = sweeps * math.ceil(loaded / 4096)  # strongly consistent: 1 RRU per 4 KB
    # A keepalive that moves only the keepalive item logs no line of its own at INFO
    # (handlers/ingest.py): the platform's START/END/REPORT lines and the access log remain.
    logs = keepalives * invocation_log_bytes(0, lines_per_invocation=3) + access_log_bytes(keepalives)
    gb_months = PER * stored_bytes_per_task(store) / 1e9
    part = Part("Running task-months", "10,000 task-months")
    part.lines = {
        f"API Gateway REST ({KEEPALIVES_PER_TASK_MONTH:.1f} keepalives a task-month)": keepalives
        / 1e6
        * API_REST_PER_MILLION,
        "Lambda ingest (keepalives)": lambda_cost("ingest", keepalives),
        f"DynamoDB writes (keepalives, {keepalive_wru:g} WRU each)": keepalives
        * keepalive_wru
        / 1e6
        * DDB_WRITE_PER_MILLION,
        "DynamoDB reads (keepalives)": keepalives * keepalive_rru / 1e6 * DDB_READ_PER_MILLION,
        f"DynamoDB writes (lease renewals, {renewal_wru:.1f} WRU a task-month)": PER
        * renewal_wru
        / 1e6
        * DDB_WRITE_PER_MILLION,
        "CloudWatch Logs ingestion (keepalives)": log_ingestion_cost(logs),
        f"CloudWatch Logs storage ({LOG_RETENTION_DAYS} days)": log_storage_cost(logs),
        f"reconciler reads ({reconciler_rru:.0f} RRU a task-month)": PER
        * reconciler_rru
        / 1e6
        * DDB_READ_PER_MILLION,
        "reconciler Lambda (its time per task)": reconciler_gb_s * LAMBDA_ARM_GB_SECOND,
        f"sweep worker Lambda ({sweeps:.1f} sweeps, its time per task)": sweep_gb_s * LAMBDA_ARM_GB_SECOND,
        f"sweep reads ({sweep_rru:.0f} RRU a task-month)": PER * sweep_rru / 1e6 * DDB_READ_PER_MILLION,
        "DynamoDB storage of the running tasks": gb_months * DDB_STORAGE_GB_MONTH,
        "DynamoDB PITR of the running tasks": gb_months * DDB_PITR_GB_MONTH if PITR_ON else 0.0,
    }
    part.notes = {
        "keepalives_per_task_month": round(KEEPALIVES_PER_TASK_MONTH, 2),
        "reconciler_read_units_per_task_month": round(reconciler_rru, 2),
        "lease_renewal_write_units_per_task_month": round(renewal_wru, 2),
        "sweep_read_units_per_task_month": round(sweep_rru, 2),
    }
    return part


# -- per 10,000 list pages (and summaries, which have no goal) ------------------------------------


def _queries(title: str, per: str, read_units: float, log_bytes: float) -> Part:
    logs = PER * invocation_log_bytes(log_bytes) + access_log_bytes(PER)
    part = Part(title, per)
    part.lines = {
        "API Gateway REST": PER / 1e6 * API_REST_PER_MILLION,
        "Lambda query": lambda_cost("query", PER),
        f"DynamoDB reads ({read_units:.1f} RRU each)": PER * read_units / 1e6 * DDB_READ_PER_MILLION,
        "CloudWatch Logs ingestion": log_ingestion_cost(logs),
        f"CloudWatch Logs storage ({LOG_RETENTION_DAYS} days)": log_storage_cost(logs),
    }
    part.notes = {"read_units": read_units}
    return part


def list_pages(store: dict[str, Any], log_bytes: float) -> Part:
    pages = store["reads"]["list_all"]
    part = _queries(
        "List pages (GET /tasks, 100 tasks a page)",
        "10,000 pages",
        sum(p["read_units"] for p in pages) / len(pages),
        log_bytes,
    )
    part.notes["items_read_per_page"] = sum(p["items_read"] for p in pages) / len(pages)
    part.notes["read_calls_per_page"] = sum(p["read_calls"] for p in pages) / len(pages)
    return part


def summaries(store: dict[str, Any], log_bytes: float) -> Part:
    summary = store["reads"].get("summary_cluster", {"read_units": SUMMARY_READS_ASSUMED})
    return _queries("Summaries (GET /summary, no goal)", "10,000 summaries", summary["read_units"], log_bytes)


# -- the figures beside their goals ---------------------------------------------------------------


def goal(figure: str, value: float, target: float, unit: str, in_the_way: str = "") -> dict[str, Any]:
    met = value <= target
    return {
        "figure": figure,
        "value": round(value, 4),
        "goal": target,
        "unit": unit,
        "met": met,
        **({} if met else {"in_the_way": in_the_way}),
    }


def goals(fixed_part: Part, launch: Part, months: Part, pages: Part) -> list[dict[str, Any]]:
    wru = launch.notes["write_units_per_launch"]
    heavy = sorted(launch.notes["write_units_by_kind"].items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:3]
    writes = next(v for k, v in launch.lines.items() if k.startswith("DynamoDB writes"))
    keepalive_lines = sum(v for k, v in months.lines.items() if "keepalive" in k or "Logs" in k)
    page_rru = pages.notes["read_units"]
    reads = next(v for k, v in pages.lines.items() if k.startswith("DynamoDB reads"))
    return [
        goal(
            "fixed, a month",
            fixed_part.total,
            FIXED_COST_GOAL_USD,
            "USD",
            "the lines above zero: "
            + ", ".join(
                f"{name} {value:.4f}"
                for name, value in sorted(fixed_part.lines.items(), key=lambda line: -line[1])
                if value >= 0.00005
            ),
        ),
        goal(
            "launches of 1-hour tasks: write units a launch",
            wru,
            LAUNCH_WRU_GOAL,
            "WRU",
            "the write path (issue 16); heaviest, request path + indexer: "
            + ", ".join(f"{kind} {a:g}+{b:g}" for kind, (a, b) in heavy)
            + ". The record is ~1.4 KB compressed (2 WRU a write, no transaction); the indexer writes "
            'each entry once, when the task gains it (docs/decisions.md "Entries written once").',
        ),
        goal(
            "launches of 1-hour tasks: per 10,000",
            launch.total,
            LAUNCHES_GOAL_USD,
            "USD",
            f"DynamoDB writes alone are {writes:.3f} ({wru:g} WRU a launch); {LAUNCH_WRU_GOAL} WRU would be "
            f"{PER * LAUNCH_WRU_GOAL / 1e6 * DDB_WRITE_PER_MILLION:.4f}",
        ),
        goal(
            "running task-months: per 10,000",
            months.total,
            TASK_MONTHS_GOAL_USD,
            "USD",
            f"keepalives are {keepalive_lines:.3f} of it ({KEEPALIVES_PER_TASK_MONTH:.1f} a task-month at "
            f"a mean {KEEPALIVE_MEAN_HOURS:g} h, each an API request, an ingest invocation, a write and "
            "log lines)",
        ),
        goal(
            "list pages: read units a page of 100",
            page_rru,
            PAGE_RRU_GOAL,
            "RRU",
            f"a page reads {pages.notes['items_read_per_page']:.0f} items in "
            f"{pages.notes['read_calls_per_page']:.0f} calls: the records, the keepalive item beside each, "
            "and the index shards",
        ),
        goal(
            "list pages: per 10,000",
            pages.total,
            LIST_PAGES_GOAL_USD,
            "USD",
            f"DynamoDB reads alone are {reads:.3f}",
        ),
    ]


def _as_dict(part: Part) -> dict[str, Any]:
    return {
        "title": part.title,
        "per": part.per,
        "lines_usd": {name: round(value, 6) for name, value in part.lines.items()},
        "total_usd": round(part.total, 6),
        "aside_usd": {name: round(value, 6) for name, value in part.aside.items()},
        **part.notes,
    }


def measure_log_bytes() -> tuple[float, str]:
    """Bytes of the log lines the ingest handler writes for one accepted report."""
    try:
        return _measure_log_bytes(), "measured: the ingest handler, once, on moto"
    except Exception as error:
        return float(LOG_BYTES_ASSUMED), f"assumed ({type(error).__name__}: {error})"


def _measure_log_bytes() -> int:
    import contextlib
    import io

    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    from core.environment import environment

    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto placeholder credentials)
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.update(environment(table_name="logbench", collector_role_arns=""))
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    try:
        import boto3
        from moto import mock_aws

        from benchmarks.payloads import envelope, task_document
        from core.observability import logger
        from core.store.schema import create_table_request
        from handlers import ingest, wiring
        from taskbeacon.local.aws.gateway import _proxy_event, match_route
        from taskbeacon.local.aws.lambda_context import LocalContext
        from taskbeacon.local.aws.principals import PrincipalRegistry

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
    return assemble(store, log_bytes, log_note, api_methods())


def assemble(store: dict[str, Any], log_bytes: float, log_note: str, methods: int) -> dict[str, Any]:
    """Every part and the figures beside their goals, from the store benchmark's results."""
    parts = {
        "fixed": fixed(methods),
        "launches": launches(store, log_bytes),
        "task_months": task_months(store, log_bytes),
        "list_pages": list_pages(store, log_bytes),
        "summaries": summaries(store, log_bytes),
    }
    return {
        "accepted_report_log_bytes": log_bytes,
        "accepted_report_log_bytes_note": log_note,
        "api_methods": methods,
        "parts": {name: _as_dict(part) for name, part in parts.items()},
        "goals": goals(parts["fixed"], parts["launches"], parts["task_months"], parts["list_pages"]),
        "launch_write_units": parts["launches"].notes["write_units_per_launch"],
    }


def report(cost: dict[str, Any]) -> str:
    lines = [
        "Cost at defaults: us-east-1 list prices, no free tier, REST front door (DESIGN section 6)",
        f"accepted report log lines: {cost['accepted_report_log_bytes']:.0f} B "
        f"({cost['accepted_report_log_bytes_note']})",
    ]
    for part in cost["parts"].values():
        lines.append(f"\n{part['title']}, USD per {part['per']}")
        for name, value in part["lines_usd"].items():
            lines.append(f"  {name:<58} {value:>9.4f}")
        lines.append(f"  {'total':<58} {part['total_usd']:>9.4f}")
        for name, value in part["aside_usd"].items():
            lines.append(f"  {name:<58} {value:>9.4f}  (not in the total)")
    lines.append(f"\n{'cost figure':<48} {'value':>9}  {'goal':>9}")
    for row in cost["goals"]:
        unit = row["unit"]
        shown = f"{row['value']:.4f}" if unit == "USD" else f"{row['value']:.1f}"
        target = f"{row['goal']:.2f}" if unit == "USD" else f"{row['goal']:g}"
        verdict = "met" if row["met"] else "not met"
        lines.append(f"{row['figure']:<48} {shown:>9}  <= {target:>5} {unit:<4} {verdict}")
    for row in cost["goals"]:
        if not row["met"]:
            lines.append(f"  in the way of '{row['figure']}': {row['in_the_way']}")
    return "\n".join(lines)


if __name__ == "__main__":
    results = Path(__file__).with_name("results") / "latest.json"
    stored = json.loads(results.read_text())["store"]
    print(report(run(stored)))
