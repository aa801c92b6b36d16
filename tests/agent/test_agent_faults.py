"""The API client and metadata reads against a fault-injecting loopback server: always within budget."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply, closed_port
from test_agent_modes import WAITS_FOR_STDIN, exec_until_logged

from taskbeacon_agent import client, config, http, once, retry, sources
from taskbeacon_agent.credentials import CredentialsError, Resolver

ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-never-printed",
    "AWS_REGION": "eu-west-1",
}


def make(url: str, timeout: float = 0.5, **kw: object) -> client.Client:
    """A client with a short read timeout (the fault tests time out on purpose); where a test counts
    requests and no reply is slow, it passes a generous one: on a loaded machine a 0.5 s read can
    expire before a status line and add a (rightful) retry."""
    return client.Client(
        url, "eu-west-1", Resolver(ENV), timeout=timeout, rng=random.Random(1), backoff_base=0.01, **kw
    )  # type: ignore[arg-type]


def within(budget: float) -> float:
    return time.monotonic() + budget


def test_202_first_time(api: FakeServer) -> None:
    api.route("/snapshots", Reply(202, {"taskIds": ["abc"]}))
    assert make(api.url).send(b"{}", within(2)) == {"taskIds": ["abc"]}
    req = api.requests[0]
    assert req["method"] == "POST" and req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in req["headers"]["Authorization"]


@pytest.mark.parametrize(
    "fault",
    [
        Reply(500),
        Reply(503),
        Reply(429, headers={"Retry-After": "0"}),
        Reply(fault="reset"),
        Reply(502, b"<html>"),
    ],
)
def test_transient_faults_are_retried(api: FakeServer, fault: Reply) -> None:
    api.route("/snapshots", fault, Reply(202, b""))
    assert make(api.url, timeout=5.0).send(b"{}", within(3)) is None
    assert len(api.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 413])
def test_client_errors_are_not_retried(api: FakeServer, status: int) -> None:
    api.route(
        "/snapshots", Reply(status, {"error": {"code": "bad", "message": "x", "field": "task.TaskARN"}})
    )
    with pytest.raises(client.SendError) as info:
        make(api.url, timeout=5.0).send(b"{}", within(2))
    assert info.value.status == status and not info.value.retryable
    assert "field=task.TaskARN" in str(info.value)
    assert len(api.requests) == 1


def test_403_refreshes_credentials_once(api: FakeServer) -> None:
    api.route("/snapshots", Reply(403), Reply(403))
    with pytest.raises(client.SendError):
        make(api.url, timeout=5.0).send(b"{}", within(2))
    assert len(api.requests) == 2


def test_retry_after_beyond_budget_gives_up_at_once(api: FakeServer) -> None:
    api.route("/snapshots", Reply(429, headers={"Retry-After": "30"}))
    sleeps: list[float] = []
    with pytest.raises(client.SendError, match="budget"):
        make(api.url, sleep=sleeps.append).send(b"{}", within(1.0))
    assert sleeps == []  # it did not wait at all: the advised 30 s are past the budget
    assert len(api.requests) == 1


def test_retry_after_is_honoured(api: FakeServer) -> None:
    api.route("/snapshots", Reply(503, headers={"Retry-After": "1"}), Reply(202))
    sleeps: list[float] = []
    c = make(api.url, sleep=sleeps.append)
    c.send(b"{}", within(5))
    assert sleeps and sleeps[0] >= 1.0


def test_always_failing_stays_within_budget(api: FakeServer) -> None:
    api.route("/snapshots", Reply(500))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    # 100 attempts allowed: what ends the retries is the budget (its message), not the attempts.
    with pytest.raises(client.SendError, match="time budget"):
        make(api.url, sleep=sleep).send(b"{}", within(0.8), max_attempts=100)
    assert len(api.requests) >= 2 and sum(sleeps) < 0.8


def test_slow_api_times_out_within_budget(api: FakeServer) -> None:
    # Had the client waited for the stalled answer, it would have got the 202.
    api.route("/snapshots", Reply(202, stall=True))
    with pytest.raises(client.SendError, match="budget"):
        make(api.url).send(b"{}", within(0.7))
    assert api.stalls_ended == 0


def test_unreachable_api_within_budget() -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with pytest.raises(client.SendError, match=r"unreachable|budget"):
        make(f"http://127.0.0.1:{closed_port()}", sleep=sleep).send(b"{}", within(0.5))
    assert sum(sleeps) < 0.5  # every backoff fitted in the budget


@pytest.mark.parametrize(
    "reply",
    [
        Reply(202, b"x" * (300 * 1024)),  # over the 256 KiB read cap
        Reply(200, fault="huge"),  # declares 64 MiB
        Reply(201, fault="huge-undeclared"),  # streams past the cap without Content-Length
    ],
    ids=["big-body", "huge-declared", "huge-undeclared"],
)
def test_any_2xx_is_success_whatever_the_body(api: FakeServer, reply: Reply) -> None:
    # The snapshot was stored: retrying because the answer is too big would post it twice. A generous
    # read timeout: on a loaded machine a 0.5 s one can expire before the status line arrives, and
    # that retry (rightly) posts again, which is not what this test is about.
    api.route("/snapshots", reply, Reply(202))
    assert make(api.url, timeout=5.0).send(b"{}", within(10)) is None
    assert len(api.requests) == 1


def test_oversized_error_answer_is_still_retried(api: FakeServer) -> None:
    api.route("/snapshots", Reply(503, fault="huge"), Reply(202, {"ok": True}))
    assert make(api.url, timeout=5.0).send(b"{}", within(3)) == {"ok": True}
    assert len(api.requests) == 2


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(7)
    delays = [retry.backoff_delay(attempt, base=0.1, cap=2.0, rng=rng) for attempt in range(20)]
    for attempt, d in enumerate(delays):
        assert 0.0 <= d <= min(2.0, 0.1 * 2**attempt)
    # From attempt 5 on the exponential part passes the cap: full jitter still spreads the delays
    # over [0, cap] (a fleet retrying together must not retry in step), never pinning them at the cap.
    capped = delays[5:]
    assert len(set(capped)) == len(capped)
    assert min(capped) < 1.0 and max(capped) < 2.0


def test_client_retry_delays_are_jittered(api: FakeServer) -> None:
    api.route("/snapshots", Reply(500))
    sleeps: list[float] = []
    c = client.Client(
        api.url,
        "eu-west-1",
        Resolver(ENV),
        timeout=0.5,
        sleep=sleeps.append,
        backoff_base=1.0,
        backoff_cap=2.0,
    )
    with pytest.raises(client.SendError):
        c.send(b"{}", within(60), max_attempts=8)
    assert len(sleeps) == 7 and all(0.0 <= d <= 2.0 for d in sleeps)
    assert len(set(sleeps)) == len(sleeps) and not all(d == 2.0 for d in sleeps)


def test_metadata_retries_back_off_from_at_least_200ms(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ECS agent rate-limits TMDE: retries must not hammer it (the base used to be 50 ms).
    server.route("/v4/x/task", Reply(500))
    calls: list[tuple[int, float, float]] = []

    def spy(attempt: int, base: float = 0.1, cap: float = 5.0, rng: object = None) -> float:
        calls.append((attempt, base, cap))
        return 0.0

    monkeypatch.setattr(retry, "backoff_delay", spy)
    with pytest.raises(sources.SourceError, match="HTTP 500"):
        sources.collect(v4env(server), "tmde-v4", sources.Options(timeout=0.5, deadline=within(5)))
    assert [a for a, _, _ in calls] == [0, 1, 2]  # 4 attempts, 3 waits
    assert all(base >= 0.2 and base <= cap <= 5.0 for _, base, cap in calls)
    assert len([r for r in server.requests if r["path"] == "/v4/x/task"]) == 4


def test_retry_after_http_date() -> None:
    assert retry.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry.parse_retry_after("soon") is None
    assert retry.parse_retry_after("7") == 7.0


def test_signing_region() -> None:
    assert client.signing_region("https://a1.execute-api.ap-south-2.amazonaws.com/prod", {}) == "ap-south-2"
    assert client.signing_region("https://api.example.com", {"AWS_REGION": "eu-west-3"}) == "eu-west-3"
    assert (
        client.signing_region("https://a1.execute-api.ap-south-2.amazonaws.com", {"TASKBEACON_REGION": "x-1"})
        == "x-1"
    )
    with pytest.raises(client.ConfigError):
        client.signing_region("https://api.example.com", {})


# --- metadata reads under faults -------------------------------------------------------------


def v4env(s: FakeServer) -> dict[str, str]:
    return {"ECS_CONTAINER_METADATA_URI_V4": s.url + "/v4/x"}


@pytest.mark.parametrize(
    "fault",
    [
        Reply(500),
        Reply(429, headers={"Retry-After": "0"}),
        Reply(fault="reset"),
        Reply(503, b'"agent restarting"'),
    ],
)
def test_metadata_transient_fault_then_ok(server: FakeServer, fault: Reply) -> None:
    server.route("/v4/x/task", fault, Reply(body={"TaskARN": "arn"}))
    got = sources.collect(v4env(server), "tmde-v4", sources.Options(timeout=0.5, deadline=within(3)))
    assert got.task == {"TaskARN": "arn"}


@pytest.mark.parametrize(
    "fault",
    [
        Reply(body=b"\x00\xffnot json"),
        Reply(fault="huge"),
        Reply(fault="huge-undeclared"),
        Reply(body=b"[1, 2]"),
        Reply(500),
        Reply(200, body={"TaskARN": "arn"}, stall=True),
        Reply(fault="drip", stall=True),
    ],
    ids=["garbage", "huge", "huge-undeclared", "not-object", "500", "slow", "drip"],
)
def test_metadata_faults_fail_cleanly_within_budget(server: FakeServer, fault: Reply) -> None:
    server.route("/v4/x/task", fault)
    with pytest.raises(sources.SourceError):
        sources.collect(v4env(server), "tmde-v4", sources.Options(timeout=0.5, deadline=within(1.0)))
    # No stall ran to its end: the read gave up on it (a slow answer would have been a valid task).
    assert server.stalls_ended == 0


def test_http_size_cap(server: FakeServer) -> None:
    server.route("/big", Reply(body=b"x" * 5000))
    with pytest.raises(http.HttpError, match="too large"):
        http.request("GET", server.url + "/big", max_bytes=1000)
    assert http.request("GET", server.url + "/big", max_bytes=5000).body == b"x" * 5000


def test_absent_v2_probe_is_cheap() -> None:
    env = {"TASKBEACON_TMDE_V2_URL": f"http://127.0.0.1:{closed_port()}/v2"}
    sleeps: list[float] = []
    with pytest.raises(sources.SourceUnavailable):
        sources.collect(env, None, sources.Options(timeout=1.0, deadline=within(2), sleep=sleeps.append))
    assert sleeps == []  # refused at once, and not retried: nothing listens there


# --- metadata: Retry-After, 404, 500, truncated bodies -----------------------------------------


def recorded(deadline: float = 30.0) -> tuple[sources.Options, list[float]]:
    """Options whose retry waits are recorded instead of slept (no wall clock in the assertions)."""
    sleeps: list[float] = []
    return sources.Options(timeout=0.5, deadline=within(deadline), sleep=sleeps.append), sleeps


def task_requests(s: FakeServer, path: str = "/v4/x/task") -> int:
    return len([r for r in s.requests if r["path"] == path])


def test_metadata_429_retry_after_is_honoured(server: FakeServer) -> None:
    server.route(
        "/v4/x/task", Reply(429, b'"rate limited"', {"Retry-After": "3"}), Reply(body={"TaskARN": "a"})
    )
    server.route("/v4/x", Reply(body={"Name": "c"}))  # the container document answers at once
    opts, sleeps = recorded()
    got = sources.collect(v4env(server), "tmde-v4", opts)
    assert got.task == {"TaskARN": "a"}
    assert sleeps == [3.0]  # exactly what the server asked for, not the (shorter) backoff
    assert task_requests(server) == 2


def test_metadata_429_retry_after_beyond_budget_gives_up_without_waiting(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(429, b'"rate limited"', {"Retry-After": "60"}))
    opts, sleeps = recorded(deadline=5.0)
    with pytest.raises(sources.SourceError, match="retry-after beyond budget"):
        sources.collect(v4env(server), "tmde-v4", opts)
    assert sleeps == [] and task_requests(server) == 1


@pytest.mark.parametrize("status", [404, 500])
def test_metadata_404_and_500_are_retried_then_recover(server: FakeServer, status: int) -> None:
    # 404: the ECS agent does not know this endpoint id yet; 500: any other failure (notes §2.3).
    server.route("/v4/x/task", Reply(status, b'"unable to get task"'), Reply(body={"TaskARN": "a"}))
    server.route("/v4/x", Reply(body={"Name": "c"}))  # the container document answers at once
    opts, sleeps = recorded()
    assert sources.collect(v4env(server), "tmde-v4", opts).task == {"TaskARN": "a"}
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 0.2  # one full-jitter backoff from the 0.2 s base
    assert task_requests(server) == 2


@pytest.mark.parametrize("status", [404, 500])
def test_metadata_404_and_500_persisting_fail_after_four_attempts(server: FakeServer, status: int) -> None:
    server.route("/v4/x/task", Reply(status, b'"unable to get task"'))
    opts, sleeps = recorded()
    with pytest.raises(sources.SourceError, match=f"HTTP {status}"):
        sources.collect(v4env(server), "tmde-v4", opts)
    assert task_requests(server) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("status", [404, 500])
def test_metadata_v4_failing_falls_back_to_v3_in_auto_mode(server: FakeServer, status: int) -> None:
    server.route("/v4/x/task", Reply(status, b'"unable to get task"'))
    server.route("/v3/x/task", Reply(body={"TaskARN": "v3"}))
    env = dict(v4env(server), ECS_CONTAINER_METADATA_URI=server.url + "/v3/x")
    opts, _ = recorded()
    got = sources.collect(env, None, opts)
    assert (got.source, got.task) == ("tmde-v3", {"TaskARN": "v3"})


def test_v2_probe_404_means_absent_at_once(server: FakeServer) -> None:
    server.route("/v2/metadata", Reply(404, b'"not found"'))
    opts, sleeps = recorded()
    with pytest.raises(sources.SourceUnavailable):
        sources.collect({"TASKBEACON_TMDE_V2_URL": server.url + "/v2"}, None, opts)
    assert sleeps == [] and task_requests(server, "/v2/metadata") == 1


@pytest.mark.parametrize("status", [404, 500])
def test_once_exits_no_source_on_persistent_404_or_500(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    server.route("/v4/x/task", Reply(status, b'"unable to get task"'))
    monkeypatch.setattr(time, "sleep", lambda s: None)  # the Reporter's wait seam defaults to time.sleep
    err = io.StringIO()
    cfg = config.Config(v4env(server), dry_run=True, budget=10.0, timeout=0.5, out=io.StringIO(), err=err)
    assert once.run(cfg) == config.EXIT_NO_SOURCE
    assert f"HTTP {status}" in err.getvalue()


def test_http_truncated_body_is_an_error(server: FakeServer) -> None:
    # Content-Length promises 100 more bytes than arrive before the server hangs up.
    server.route("/t", Reply(body={"TaskARN": "a"}, fault="truncated"))
    with pytest.raises(http.HttpError, match="truncated"):
        http.request("GET", server.url + "/t", timeout=2.0)


def test_metadata_truncated_body_is_retried(server: FakeServer) -> None:
    # The truncated body happens to be complete JSON: it must still not be taken for the document.
    server.route(
        "/v4/x/task", Reply(body={"TaskARN": "cut"}, fault="truncated"), Reply(body={"TaskARN": "whole"})
    )
    opts, _ = recorded()
    assert sources.collect(v4env(server), "tmde-v4", opts).task == {"TaskARN": "whole"}
    assert task_requests(server) == 2


def test_metadata_always_truncated_fails_cleanly(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body={"TaskARN": "cut"}, fault="truncated"))
    opts, _ = recorded()
    with pytest.raises(sources.SourceError, match="truncated"):
        sources.collect(v4env(server), "tmde-v4", opts)


def test_api_truncated_2xx_is_success_and_truncated_5xx_is_retried(api: FakeServer) -> None:
    api.route("/snapshots", Reply(202, {"taskIds": ["a"]}, fault="truncated"), Reply(202))
    assert make(api.url, timeout=5.0).send(b"{}", within(3)) is None  # stored: never post it twice
    assert len(api.requests) == 1
    api.requests.clear()
    api.route("/snapshots", Reply(503, b'"busy"', fault="truncated"), Reply(202, {"ok": 1}))
    assert make(api.url, timeout=5.0).send(b"{}", within(3)) == {"ok": 1}
    assert len(api.requests) == 2


# --- credentials endpoint faults: exit 4 in `once`, fail open in `exec`, never hang ----------

CREDS = {
    "AccessKeyId": "ASIAEXAMPLE",
    "SecretAccessKey": "s3cr3t-never-printed",
    "Token": "token-never-printed",
    "Expiration": "2099-01-01T00:00:00Z",
}
CREDS_FAULTS = [
    pytest.param(Reply(body=CREDS, delay=4), id="slow"),
    pytest.param(Reply(body=b"\x00\xffnot json"), id="garbage"),
    pytest.param(Reply(body={"AccessKeyId": "ASIAEXAMPLE"}), id="missing-keys"),
    pytest.param(Reply(body=b"[" + b"1," * 60_000 + b"1]"), id="over-64KiB"),
    pytest.param(Reply(fault="huge"), id="huge-declared"),
    pytest.param(Reply(fault="huge-undeclared"), id="huge-undeclared"),
    pytest.param(Reply(fault="drip"), id="drip"),
    pytest.param(Reply(body=CREDS, fault="truncated"), id="truncated"),
]


@pytest.mark.parametrize("fault", CREDS_FAULTS)
def test_credentials_endpoint_faults_raise_credentials_error(server: FakeServer, fault: Reply) -> None:
    server.route("/creds", fault)
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"}
    with pytest.raises(CredentialsError) as info:
        Resolver(env).get(timeout=0.5, deadline=within(2.0))
    assert "/creds" not in str(info.value) and "s3cr3t" not in str(info.value)


def agent_env(server: FakeServer, api: FakeServer) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    env.update(
        PYTHONPATH=str(Path(http.__file__).resolve().parents[1]),
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=server.url + "/creds",
    )
    return env


@pytest.mark.parametrize("mode", ["once", "exec"])
@pytest.mark.parametrize("fault", CREDS_FAULTS)
def test_credentials_faults_exit_4_or_fail_open(
    server: FakeServer, api: FakeServer, fault: Reply, mode: str
) -> None:
    server.route("/v4/x/task", Reply(body={"TaskARN": "arn:aws:ecs:eu-west-1:111122223333:task/c/abc"}))
    server.route("/creds", fault)
    api.route("/snapshots", Reply(202))
    agent = [sys.executable, "-m", "taskbeacon_agent", mode, "--timeout", "0.5", "--budget", "2"]
    if mode == "once":
        done = subprocess.run(
            agent,
            env=agent_env(server, api),
            capture_output=True,
            text=True,
            timeout=30,  # a hang guard, not a timing assertion
            check=False,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
        assert code == config.EXIT_CONFIG == 4, err
    else:  # exec fails open: the command runs and its exit code is the container's
        cmd = [*agent, "--", *WAITS_FOR_STDIN]
        code, out, err = exec_until_logged(cmd, agent_env(server, api), "container credentials endpoint")
        assert (code, out) == (0, "ran\n"), err
    assert "container credentials endpoint" in err
    assert api.requests == []  # nothing unsigned or half-signed was ever posted
    for secret in ("s3cr3t-never-printed", "token-never-printed", "/creds"):
        assert secret not in out + err
