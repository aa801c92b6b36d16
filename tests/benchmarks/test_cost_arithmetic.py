"""The cost model's arithmetic on hand-computed cases.

Every expected number is worked out by hand in the comment beside it (prices: $3.50 per million REST
requests, $0.20 per million Lambda requests, $0.0000133334 per arm64 GB-second, $0.625 per million
WRU, $0.125 per million RRU, $0.25 + $0.20 (PITR) per GB-month stored, $0.50 per GB of logs ingested
and $0.03 per GB-month archived, $0.10 per alarm metric, $0.30 per custom metric), never computed
by the code under test. The deployment's figures are checked against infra/ itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cost


def _kind(request_wru: float, indexer_wru: float, request_rru: float = 0.0, invocations: float = 1.0) -> Any:
    return {
        "request": {"write_units": request_wru, "read_units": request_rru},
        "indexer": {"write_units": indexer_wru, "read_units": 0.0, "invocations": invocations},
    }


def _store(**kinds: Any) -> dict[str, Any]:
    """A store benchmark result: a launch of 27 WRU unless kinds say otherwise; 1,000 B a task."""
    base = {
        "start": _kind(10, 10),  # 20
        "change": _kind(2, 2),  # x 0.5 = 2
        "keepalive": _kind(1, 0, invocations=0),  # none in a 1-hour task
        "stop": _kind(2, 0),  # 2
        "event_running": _kind(1, 0),  # x 2 = 2
        "event_stopped": _kind(1, 2),  # 3
        "ttl_expiry": _kind(0, 1),  # 1
        # A launch (cost.LAUNCH_REPORTS): start 20 + 0.5 change x 4 = 2 + 0 stop snapshots + 1 RUNNING
        # event x 1 + 1 STOPPED event x 3 + 1 = 27 WRU.
    }
    return {
        "kinds": {**base, **kinds},
        "reads": {
            "fleet": 1,
            "list_all": [{"read_units": 100.0, "items_read": 250, "read_calls": 10}],
            "summary_cluster": {"read_units": 4.0},
        },
        "storage": {"TASK": {"items": 1, "mean_bytes": 900}},  # 1,000 B a task with the 100 B overhead
    }


# -- the deployment, against infra/ --------------------------------------------------------------


def test_prices_and_the_fixed_goal_agree_with_infra_monitoring() -> None:
    from infra import monitoring

    assert cost.ALARM_METRIC_USD == monitoring.ALARM_METRIC_USD == 0.10
    assert cost.CUSTOM_METRIC_USD == monitoring.CUSTOM_METRIC_USD == 0.30
    assert cost.CUSTOM_METRICS == monitoring.CUSTOM_METRICS == 1
    assert cost.FIXED_COST_GOAL_USD == monitoring.FIXED_COST_GOAL_USD == 1.50


def test_defaults_agree_with_infra_config_and_functions() -> None:
    from infra import functions
    from infra.config import TaskBeaconConfig

    defaults = TaskBeaconConfig()
    assert cost.DASHBOARD_ON_BY_DEFAULT is defaults.dashboard is False
    assert cost.TRACING_ON_BY_DEFAULT is defaults.tracing is False
    assert cost.LOG_RETENTION_DAYS == defaults.log_retention_days == 90
    assert cost.RECONCILE_EVERY_HOURS == defaults.reconcile_interval_hours == 6
    assert cost.RETENTION_DAYS == defaults.retention_days == 30
    assert cost.API_ACCESS_LOGS_ON is defaults.manage_api_gateway_account is True
    assert cost.SWEEP_EVERY_HOURS == defaults.sweep_interval_hours == 12
    # At defaults the sweep reads one account-region: no organization, no other account, no region list.
    assert defaults.sweep_accounts == defaults.event_bus_accounts == defaults.member_regions == ()
    assert defaults.principal_org_id == "" and cost.SWEEP_TARGETS == 1
    specs = (functions.INGEST, functions.QUERY, functions.EVENTS, functions.INDEXER, functions.RECONCILER)
    for spec in specs:
        assert cost.MEMORY_MB[spec.key] == spec.memory_mb, spec.key
    assert cost.MEMORY_MB["sweep_planner"] == functions.SWEEP_PLANNER.memory_mb == 512
    assert cost.MEMORY_MB["sweep_worker"] == functions.SWEEP_WORKER.memory_mb == 1024


@pytest.mark.cdk
def test_alarm_metrics_are_the_synthesized_stacks(tmp_path: Path) -> None:
    """The cost model counts what the stack at defaults alarms on (every MetricStat of a math alarm),
    its queues, the queues a Lambda event source mapping polls, and its dashboards (none)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from tests.infra.infra_synth import synth

    stack = synth({}, tmp_path)
    queues = stack.resources("AWS::SQS::Queue")
    mappings = stack.resources("AWS::Lambda::EventSourceMapping").values()
    polled = [m for m in mappings if m["Properties"]["EventSourceArn"].get("Fn::GetAtt", [""])[0] in queues]
    assert len(queues) == cost.QUEUES and len(polled) == cost.POLLED_QUEUES, sorted(queues)
    assert (stack.resources("AWS::CloudWatch::Dashboard") != {}) is cost.DASHBOARD_ON_BY_DEFAULT
    alarms = stack.resources("AWS::CloudWatch::Alarm")
    billed = sum(
        1
        if "MetricName" in alarm["Properties"]
        else sum("MetricStat" in m for m in alarm["Properties"]["Metrics"])
        for alarm in alarms.values()
    )
    assert billed == sum(cost.ALARM_METRICS.values()), sorted(alarms)
    assert len(alarms) == len(cost.ALARM_METRICS), sorted(alarms)


def test_reconciler_idle_queries_follow_the_code() -> None:
    from core.logic.indexing import LIVE_KIND
    from core.store import index

    # A pass queries every shard of the live partition once (no status shards, no counter shards
    # any more), and a run is one pass (no settling second pass): 8 Queries.
    assert cost.RECONCILER_IDLE_PASSES == 1
    assert cost.RECONCILER_IDLE_QUERIES_PER_PASS == 8
    assert index.shards_of(LIVE_KIND) == cost.RECONCILER_IDLE_QUERIES_PER_PASS


def test_reconciler_idle_pass_makes_the_queries_the_model_counts() -> None:
    from core.logic.reconcile import Reconciler

    class CountingReader:
        def __init__(self) -> None:
            self.queries = 0

        def query_shard(self, partition: str, **_: object) -> object:
            self.queries += 1

            class Empty:
                hits: list[object] = []
                exhausted = True

            return Empty()

    reader = CountingReader()
    result = Reconciler(None, reader, retention_days=30).run()  # type: ignore[arg-type]
    assert result.checked == result.renewed == 0
    assert reader.queries == cost.RECONCILER_IDLE_PASSES * cost.RECONCILER_IDLE_QUERIES_PER_PASS


# -- fixed ----------------------------------------------------------------------------------------


def test_fixed_cost_at_defaults() -> None:
    part = cost.fixed(methods=7)
    # 3 Errors, API 5XX, API 4xx rate (2), Rejected, 2 dead-letter or failure queue depths (the events
    # dead letters also hold the sweep's failures), IteratorAge, image pulls = 11.
    assert sum(cost.ALARM_METRICS.values()) == 11
    # 11 alarm metrics x $0.10 + 1 custom metric x $0.30 = $1.10 + $0.30 = $1.40.
    assert part.lines["CloudWatch alarm metrics (11 x 0.10)"] == pytest.approx(1.10)
    assert part.lines["CloudWatch custom metrics (1 x 0.30)"] == pytest.approx(0.30)
    assert part.lines["CloudWatch dashboard (opt-in, off)"] == 0
    assert part.lines["API Gateway per-method metrics (off)"] == 0
    assert part.lines["SQS queues at rest (3, not polled)"] == 0
    # No queue is polled by Lambda (a polled one would be 15 empty receives a minute x 60 x 730 h =
    # 657,000 requests x $0.40/M = $0.2628): the sweep invokes its worker asynchronously.
    assert part.lines["SQS queues polled by Lambda (0: the sweep invokes its worker asynchronously)"] == 0
    polled_one = cost.IDLE_RECEIVES_PER_MINUTE * 60 * 730 / 1e6 * cost.SQS_REQUESTS_PER_MILLION
    assert polled_one == pytest.approx(0.2628)
    # Reconciler: 730 h / 6 h = 121.6667 runs, all cold: (500 + 900) ms x 1 GB = 1.4 GB-s
    # x $0.0000133334 = $0.0000186668 + $0.0000002 a request = $0.0000188668 a run; x 121.6667 = $0.0022955.
    assert part.lines["reconciler schedule (121.7 cold runs, Lambda)"] == pytest.approx(0.0022955, rel=1e-4)
    # 1 pass x 8 Queries x 0.5 RRU = 4 RRU a run; x 121.6667 = 486.7 RRU x $0.125/M = $0.0000608.
    assert part.lines["reconciler reads at idle (487 RRU)"] == pytest.approx(0.0000608, rel=1e-3)
    # Sweep: 730 h / 12 h = 60.8333 planner runs, (500 + 900) ms x 0.5 GB = 0.7 GB-s x $0.0000133334
    # + $0.0000002 = $0.00000953338 each: $0.000579947; and 60.8333 worker runs over one account-region,
    # (2,000 + 900) ms x 1 GB = 2.9 GB-s: $0.0000388669 each, $0.00236440. Together $0.00294435.
    assert part.lines["sweep schedule (60.8 cold planner and worker runs)"] == pytest.approx(
        0.00294435, rel=1e-5
    )
    # Logs: 400 + 330 + 4 x 26 = 834 B a run; 121.6667 reconciler runs + 2 x 60.8333 sweep runs
    # = 243.3333 runs = 202,940 B: ingestion x $0.50/GB = $0.00010147; kept 90 days = 2.958904 months
    # x $0.03/GB-month = $0.0000180.
    assert part.lines["log ingestion at idle"] == pytest.approx(0.00010147, rel=1e-4)
    assert part.lines["log storage at idle (90 days)"] == pytest.approx(0.0000180, rel=1e-2)
    # 1.10 + 0.30 + 0.0022955 + 0.0000608 + 0.0029444 + 0.0001015 + 0.0000180 = 1.4054202: within
    # the $1.50 goal ($1.40 of it CloudWatch, unchanged).
    assert part.total == pytest.approx(1.4054202, rel=1e-5)
    assert part.total <= 1.50
    # Opt-ins, not in the total: the dashboard $3.00; per-method metrics 7 x 5 x $0.30 = $10.50;
    # X-Ray's 1/s reservoir 2,628,000 traces x $5/M = $13.14.
    assert part.aside["dashboard when on (taskbeacon:dashboard)"] == pytest.approx(3.00)
    assert part.aside["per-method metrics when on (7 methods x 5 x 0.30)"] == pytest.approx(10.50)
    assert part.aside["X-Ray when on: its 1/s reservoir, up to (+1 % beyond)"] == pytest.approx(13.14)


# -- per 10,000 launches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wru", "usd"),
    [
        (12, 0.075),  # 12 x 10,000 = 120,000 WRU x $0.625/M (docs/cost.md once said $0.008)
        (25, 0.15625),  # 250,000 WRU (docs/cost.md once said 25-30 WRU was $0.02)
        (30, 0.1875),  # 300,000 WRU
        (35, 0.21875),  # the goal's 35 WRU: 350,000 WRU
    ],
)
def test_write_units_a_launch_in_dollars(wru: float, usd: float) -> None:
    store = _store(
        start=_kind(wru, 0),
        change=_kind(0, 0),
        stop=_kind(0, 0),
        event_running=_kind(0, 0),
        event_stopped=_kind(0, 0),
        ttl_expiry=_kind(0, 0),
    )
    part = cost.launches(store, log_bytes=1000)
    assert part.notes["write_units_per_launch"] == wru
    assert part.lines[f"DynamoDB writes ({wru:g} WRU a launch)"] == pytest.approx(usd)


def test_launches_line_by_line() -> None:
    part = cost.launches(_store(), log_bytes=1000)
    lines = part.lines
    # 27 WRU a launch (see _store) x 10,000 x $0.625/M = $0.16875.
    assert part.notes["write_units_per_launch"] == 27
    assert lines["DynamoDB writes (27 WRU a launch)"] == pytest.approx(0.16875)
    # Snapshots: start + 0.5 change + 0 stop = 1.5 a launch: 15,000 requests x $3.50/M = $0.0525.
    assert lines["API Gateway REST (1.5 snapshots a launch)"] == pytest.approx(0.0525)
    # Events: 1 RUNNING (desired RUNNING) + 1 STOPPED = 2 a launch: 20,000 events on the default bus, free.
    assert lines["EventBridge (AWS events, default bus)"] == 0
    # From other accounts or regions each is a custom event, $1.00/M to the sender: 20,000 = $0.02.
    assert part.aside["EventBridge from other accounts or regions (their bill)"] == pytest.approx(0.02)
    # Indexer: 4.5 records a launch. 10,000 concurrent 1-hour tasks = 7.3 M launches = 32.85 M records
    # a month / 2,628,000 s = 12.5 a second; 1 s window over 4 shards: 3.125 records an invocation;
    # 4.5 / 3.125 = 1.44 invocations a launch. 14,400 x ($0.20/M + 69 ms x 1 GB x $0.0000133334)
    # = 14,400 x $0.000001120005 = $0.0161281.
    assert part.notes["indexer_records_per_invocation"] == pytest.approx(3.125, abs=0.01)
    assert lines["Lambda indexer (1.44 invocations a launch)"] == pytest.approx(0.0161281, rel=1e-5)
    # Ingest: 15,000 x ($0.20/M + 49 ms x 0.5 GB x $0.0000133334) = 15,000 x $0.000000526668 = $0.0079000.
    assert lines["Lambda ingest"] == pytest.approx(0.0079000, rel=1e-5)
    # Events: 20,000 x ($0.20/M + 44 ms x 0.5 GB x $0.0000133334) = 20,000 x $0.000000493335 = $0.0098667.
    assert lines["Lambda events (2 events a launch)"] == pytest.approx(0.0098667, rel=1e-4)
    # Storage: 10,000 tasks x 1,000 B = 0.01 GB, kept until the record's first lease ends: (14 + 30)
    # x 24 h / 730 h = 1.446575 months: 0.01446575 GB-months x $0.25 = $0.00361644, and PITR x $0.20
    # = $0.00289315.
    assert lines["DynamoDB storage (kept 44 days: the record's lease)"] == pytest.approx(0.00361644, rel=1e-5)
    assert lines["DynamoDB PITR (continuous backups)"] == pytest.approx(0.00289315, rel=1e-5)
    # Change events out: 2 custom events a launch, 20,000 x $1.00/M = $0.02.
    assert lines["EventBridge change events out (2 a launch)"] == pytest.approx(0.02)
    # Logs a launch: 3.5 invocations x (1,000 + 330 + 4 x 26) B = 5,019 B; 1.44 indexer invocations
    # x (700 + 330 + 2 x 26) B = 1,558.08 B; 1.5 access log lines x (350 + 26) B = 564 B: 7,141.08 B.
    # x 10,000 = 0.0714108 GB: ingestion $0.0357054; kept 2.958904 months x $0.03 = $0.0063389.
    assert lines["CloudWatch Logs ingestion"] == pytest.approx(0.0357054, rel=1e-5)
    assert lines["CloudWatch Logs storage (90 days)"] == pytest.approx(0.0063389, rel=1e-4)
    assert lines["DynamoDB stream (read by Lambda)"] == 0


# -- per 10,000 running task-months ---------------------------------------------------------------


def test_task_months_line_by_line() -> None:
    part = cost.task_months(_store(), log_bytes=1000)
    lines = part.lines
    # 730 h / 18 h = 40.5556 keepalives a task-month; 405,555.6 for 10,000 tasks.
    # API: x $3.50/M = $1.4194444. Ingest: x $0.000000526668 = $0.2135932. Writes: 1 WRU each = $0.2534722.
    assert lines["API Gateway REST (40.6 keepalives a task-month)"] == pytest.approx(1.4194444, rel=1e-6)
    assert lines["Lambda ingest (keepalives)"] == pytest.approx(0.2135932, rel=1e-5)
    assert lines["DynamoDB writes (keepalives, 1 WRU each)"] == pytest.approx(0.2534722, rel=1e-6)
    # Logs: a keepalive logs no line of its own at INFO: (330 platform + 3 x 26 per event + 376
    # access) = 784 B x 405,555.6 = 0.3179556 GB: $0.1589778 ingested, and x 2.958904 months x $0.03
    # = $0.0282243 stored.
    assert lines["CloudWatch Logs ingestion (keepalives)"] == pytest.approx(0.1589778, rel=1e-5)
    assert lines["CloudWatch Logs storage (90 days)"] == pytest.approx(0.0282243, rel=1e-4)
    # Reconciler: 121.6667 runs x 300 B / 4,096 x 0.5 (the task's live entry, eventually consistent)
    # = 4.456 RRU a task-month; x 10,000 x $0.125/M = $0.0055695.
    assert lines["reconciler reads (4 RRU a task-month)"] == pytest.approx(0.0055695, rel=1e-4)
    # Lease renewals: 730 h / 24 / (60 - 3) days = 0.533626 a task-month, each the record's update
    # (1 WRU, as a RUNNING event) and the start's index writes again (10 WRU): 5.8699 WRU a task-month;
    # x 10,000 x $0.625/M = $0.0366868.
    assert lines["DynamoDB writes (lease renewals, 5.9 WRU a task-month)"] == pytest.approx(
        0.0366868, rel=1e-5
    )
    assert lines["DynamoDB reads (keepalives)"] == 0
    # 121.6667 runs x 10,000 tasks x 3 ms = 3,650 GB-s at 1 GB x $0.0000133334 = $0.0486669.
    assert lines["reconciler Lambda (its time per task)"] == pytest.approx(0.0486669, rel=1e-5)
    # Sweep: 60.8333 sweeps x 10,000 tasks x 4 ms = 2,433.33 GB-s at 1 GB x $0.0000133334 = $0.0324446.
    assert lines["sweep worker Lambda (60.8 sweeps, its time per task)"] == pytest.approx(0.0324446, rel=1e-5)
    # Each sweep loads each task: one strongly consistent Query of 900 B (record; no keepalive item in
    # this store) = 1 RRU; 60.8333 RRU a task-month x 10,000 x $0.125/M = $0.0760417.
    assert lines["sweep reads (61 RRU a task-month)"] == pytest.approx(0.0760417, rel=1e-5)
    # 10,000 running tasks x 1,000 B = 0.01 GB for the month: $0.0025 stored, $0.0020 PITR.
    assert lines["DynamoDB storage of the running tasks"] == pytest.approx(0.0025)
    assert lines["DynamoDB PITR of the running tasks"] == pytest.approx(0.0020)
    # Sum: 1.4194444 + 0.2135932 + 0.2534722 + 0 + 0.0366868 + 0.1589778 + 0.0282243 + 0.0055695
    # + 0.0486669 + 0.0324446 + 0.0760417 + 0.0025 + 0.0020 = 2.2776214.
    assert part.total == pytest.approx(2.2776214, rel=1e-5)


# -- per 10,000 list pages ------------------------------------------------------------------------


def test_list_pages_line_by_line() -> None:
    part = cost.list_pages(_store(), log_bytes=1000)
    lines = part.lines
    # 10,000 pages x 100 RRU = 1 M RRU x $0.125/M = $0.125; 10,000 requests x $3.50/M = $0.035;
    # the query function: 10,000 x ($0.20/M + 129 ms x 0.5 GB x $0.0000133334) = $0.0106000.
    assert lines["DynamoDB reads (100.0 RRU each)"] == pytest.approx(0.125)
    assert lines["API Gateway REST"] == pytest.approx(0.035)
    assert lines["Lambda query"] == pytest.approx(0.0106000, rel=1e-5)
    # Logs: 10,000 x (1,434 + 376) B = 0.0181 GB: $0.00905 ingested, x 2.958904 x $0.03 = $0.0016067.
    assert lines["CloudWatch Logs ingestion"] == pytest.approx(0.00905)
    assert lines["CloudWatch Logs storage (90 days)"] == pytest.approx(0.0016067, rel=1e-4)
    # 0.125 + 0.035 + 0.0106 + 0.00905 + 0.0016067 = 0.1812567.
    assert part.total == pytest.approx(0.1812567, rel=1e-5)


# -- the figures beside their goals ---------------------------------------------------------------


def test_goals_say_met_and_not_met() -> None:
    assert cost.goal("fixed", 1.40, 1.50, "USD")["met"] is True
    row = cost.goal("write units a launch", 147, 35, "WRU", "the write path")
    assert row["met"] is False and row["in_the_way"] == "the write path"


def test_report_prints_each_figure_beside_its_goal() -> None:
    result = cost.assemble(_store(), log_bytes=1000, log_note="given", methods=7)
    goals = {row["figure"]: row for row in result["goals"]}
    assert set(goals) == {
        "fixed, a month",
        "launches of 1-hour tasks: write units a launch",
        "launches of 1-hour tasks: per 10,000",
        "running task-months: per 10,000",
        "list pages: read units a page of 100",
        "list pages: per 10,000",
    }
    assert [goals[f]["goal"] for f in goals] == [1.50, 35, 0.30, 2.50, 110, 0.20]
    # This store: 27 WRU a launch (met) but $0.3016 per 10,000 launches (not met); 2.2776 per
    # 10,000 task-months (met); 100 RRU and $0.1813 per 10,000 pages (both met); fixed 1.4054 (met).
    assert goals["launches of 1-hour tasks: write units a launch"]["met"] is True
    assert goals["launches of 1-hour tasks: per 10,000"]["met"] is False
    assert goals["running task-months: per 10,000"]["met"] is True
    assert goals["list pages: read units a page of 100"]["met"] is True
    assert goals["list pages: per 10,000"]["met"] is True
    assert goals["fixed, a month"]["met"] is True
    text = cost.report(result)
    assert "fixed, a month" in text and "<=  1.50 USD  met" in text
    assert "list pages: per 10,000" in text and "<=  0.20 USD  met" in text
    assert "running task-months: per 10,000" in text and "<=  2.50 USD  met" in text
    assert "launches of 1-hour tasks: per 10,000" in text and "<=  0.30 USD  not met" in text
    assert "in the way of 'launches of 1-hour tasks: per 10,000': DynamoDB writes alone are" in text
    assert "(not in the total)" in text
