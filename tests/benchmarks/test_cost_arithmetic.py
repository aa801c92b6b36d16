"""The cost model's arithmetic on a hand-computed case (every expected number worked out by hand below)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import cost


def _kind(request_wru: float, indexer_wru: float, request_rru: float = 0.0) -> dict[str, Any]:
    return {
        "request": {"write_units": request_wru, "read_units": request_rru},
        "indexer": {"write_units": indexer_wru, "read_units": 0.0, "invocations": 1.0},
    }


STORE: dict[str, Any] = {
    "kinds": {
        "start": _kind(10, 20),
        "change": _kind(4, 2),
        "keepalive": _kind(1, 0),
        "stop": _kind(6, 0),
        "event_running": _kind(3, 1),
        "event_stopped": _kind(5, 10),
        "ttl_expiry": _kind(0, 8),
    },
    "reads": {
        "fleet": 1,
        "list_all": [{"read_units": 100.0}],
        "summary_cluster": {"read_units": 4.0},
    },
    "storage": {"TASK": {"items": 1, "mean_bytes": 900}},  # 1 KB a task with the 100 B overhead
}


def test_keepalives_per_launch() -> None:
    assert cost.keepalives_per_launch(1) == 0  # the first comes after 12 h at the earliest
    assert cost.keepalives_per_launch(168) == pytest.approx(168 / 18)


def test_lambda_line() -> None:
    # 1 M ingest invocations: (40 ms + 1 % x 900 ms init) = 49 ms each = 49,000 s at 0.5 GB
    # = 24,500 GB-s x $0.0000133334 = $0.3266683, plus $0.20 for the requests.
    assert cost.lambda_cost("ingest", 1_000_000) == pytest.approx(0.5266683, abs=1e-7)


def test_profile_b_per_10k_launches() -> None:
    profile = cost.model(cost.Profile("B", 10_000, 1, "10k launches"), STORE, log_bytes=1000)
    lines = profile.lines
    # Writes per launch: start 30 + change 0.5 x 6 + keepalive 0 + stop 6 + 2 RUNNING events x 4
    # + STOPPED event 15 + expiry 8 = 70 WRU; 10,000 launches: 700,000 x $0.625 / M = $0.4375.
    assert lines["DynamoDB writes"] == pytest.approx(0.4375)
    # Requests: 2.5 snapshots a launch (start, half a change, stop) = 25,000 per 10k launches; the
    # month's 25,000 queries spread over 7.3 M launches add 25,000 x 10,000 / 7,300,000 = 34.2466.
    assert lines["API Gateway REST (snapshots + queries)"] == pytest.approx(
        (25_000 + 34.2466) / 1e6 * 3.50, rel=1e-5
    )
    # 34 alarm metrics x $0.10 = $3.40 a month, over 730 batches of 10k launches = $0.0046575.
    assert lines["CloudWatch alarms"] == pytest.approx(3.40 / 730)
    assert lines["EventBridge (AWS events, default bus)"] == 0
    assert lines["DynamoDB stream (read by Lambda)"] == 0


def test_profile_a_a_month() -> None:
    profile = cost.model(cost.Profile("A", 10_000, 168, "month"), STORE, log_bytes=1000)
    lines = profile.lines
    # 10,000 slots x 730 h / 168 h = 43,452.38 launches. Writes per launch as above plus
    # 168 / 18 = 9.3333 keepalives x 1 WRU = 79.3333; x 43,452.38 = 3,447,222 WRU = $2.15451.
    assert lines["DynamoDB writes"] == pytest.approx(43_452.38 * 79.3333 * 0.625 / 1e6, rel=1e-5)
    # Storage: 10,000 running + 43,452.38 stopped kept 30 days = 53,452.38 tasks x 1,000 B
    # = 0.0534524 GB x $0.25 = $0.0133631.
    assert lines["DynamoDB storage"] == pytest.approx(0.0133631, rel=1e-5)
    assert lines["CloudWatch custom metrics"] == pytest.approx(1.50)  # 5 metrics x $0.30


def test_verdict_names_what_stands_in_the_way() -> None:
    profile = cost.Profile("X", 1, 1, "month")
    profile.lines = {"CloudWatch custom metrics": 3.0, "CloudWatch alarms": 3.4, "DynamoDB writes": 1.0}
    out = cost.verdict(profile, 5.0)
    assert out["total_usd"] == pytest.approx(7.4) and out["met"] is False
    assert "2.400 USD over" in out["in_the_way"]
    assert "CloudWatch alarms 3.400" in out["in_the_way"]
