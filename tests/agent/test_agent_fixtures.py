"""Every shared ECS fixture goes through every agent source it belongs to, over real loopback HTTP."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply, closed_port

from taskbeacon_agent import config, credentials, daemon, once, sources

# fixture -> how the agent meets it. Any new fixture must be classified here (test_all_classified).
TASK_V4 = ["v4-task-ec2-awsvpc.json", "v4-task-ec2-bridge.json", "v4-task-fargate-docs.json"]
TASK_WITH_TAGS_V4 = [
    "v4-taskwithtags-ec2-awsvpc.json",
    "v4-taskwithtags-ec2-errors.json",
    "v4-taskwithtags-health-volumes-datadog-edited.json",
]
CONTAINER_V4 = [
    "v4-container-ec2-awsvpc.json",
    "v4-container-fargate-docs.json",
    "local-endpoints-v4-container-override.json",
]
# `${URI}/task/stats` (v4/v3) and `/v2/stats`: a map DockerId -> stats, which the agent reads.
TASK_STATS = ["v4-task-stats-ec2.json", "v4-task-stats-managed-instances-cgroupv2-no-network.json"]
# `${URI}/stats`: one container's stats. The agent never reads it: /task/stats already covers the
# calling container.
CONTAINER_STATS = ["v4-container-stats-ec2-bridge.json"]
TASK_V3 = ["v3-task-ec2-awsvpc.json", "local-endpoints-task-metadata-override.json"]
CONTAINER_V3 = ["v3-container-ec2-awsvpc.json"]
TASK_V2 = ["v2-metadata-task-awsvpc.json"]
TASK_WITH_TAGS_V2 = ["v2-taskwithtags-ec2-awsvpc.json"]  # v2 /metadataWithTags and v3 /taskWithTags
METADATA_READY = ["metadata-file-ready-bridge.json", "metadata-file-ready-old-arn-default-networkmode.json"]
METADATA_NOT_READY = ["metadata-file-not-ready.json"]
INTROSPECTION_TASKS = ["introspection-v1-tasks.json"]
INTROSPECTION_SINGLE = ["introspection-v1-tasks-by-dockerid.json"]  # not what /v1/tasks returns
CREDENTIALS = ["task-role-credentials-response-placeholders.json"]
MANAGED_DAEMON_TASKS = ["v4-tasks-managed-instances.json"]  # each element is a v4 task document
NOT_READ_BY_AGENT = [
    "eventbridge-task-state-change-fargate-running.json",  # server side (events Lambda)
    "introspection-v1-metadata.json",  # the daemon only reads /v1/tasks
    "introspection-v1-metadata-old-arn.json",
]
ALL = (
    TASK_V4 + TASK_WITH_TAGS_V4 + CONTAINER_V4 + TASK_STATS + CONTAINER_STATS + TASK_V3 + CONTAINER_V3
    + TASK_V2 + TASK_WITH_TAGS_V2
    + METADATA_READY + METADATA_NOT_READY + INTROSPECTION_TASKS + INTROSPECTION_SINGLE + CREDENTIALS
    + MANAGED_DAEMON_TASKS + NOT_READ_BY_AGENT
)  # fmt: skip


def load(d: Path, name: str) -> object:
    return json.loads((d / name).read_text())


def raw(d: Path, name: str) -> bytes:
    return (d / name).read_bytes()


def opts(**kw: object) -> sources.Options:
    return sources.Options(timeout=1.0, **kw)  # type: ignore[arg-type]


def test_all_classified(fixtures_dir: Path) -> None:
    present = {p.name for p in fixtures_dir.glob("*.json")}
    assert present == set(ALL), present.symmetric_difference(ALL)


@pytest.mark.parametrize("task", TASK_V4 + TASK_V3)
@pytest.mark.parametrize("container", CONTAINER_V4 + CONTAINER_V3)
def test_v4_task_and_container(fixtures_dir: Path, server: FakeServer, task: str, container: str) -> None:
    server.route("/v4/abc/task", Reply(body=raw(fixtures_dir, task)))
    server.route("/v4/abc", Reply(body=raw(fixtures_dir, container)))
    got = sources.collect({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"}, None, opts())
    assert got.source == "tmde-v4"
    assert got.task == load(fixtures_dir, task)
    assert got.container == load(fixtures_dir, container)
    assert got.stats is None


@pytest.mark.parametrize("name", TASK_WITH_TAGS_V4 + TASK_WITH_TAGS_V2)
def test_v4_with_tags_passes_errors_through(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    server.route("/v4/abc/taskWithTags", Reply(body=raw(fixtures_dir, name)))
    got = sources.collect(
        {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"}, "tmde-v4", opts(with_tags=True)
    )
    assert got.task == load(fixtures_dir, name)
    if name == "v4-taskwithtags-ec2-errors.json":
        assert got.task is not None and got.task["Errors"]
    assert server.requests[0]["path"] == "/v4/abc/taskWithTags"


@pytest.mark.parametrize("version", ["v4", "v3"])
@pytest.mark.parametrize("stats", TASK_STATS)
def test_task_stats_keep_big_integers(
    fixtures_dir: Path, server: FakeServer, stats: str, version: str
) -> None:
    server.route(f"/{version}/abc/task", Reply(body=raw(fixtures_dir, "v4-task-ec2-bridge.json")))
    server.route(f"/{version}/abc/task/stats", Reply(body=raw(fixtures_dir, stats)))
    # The calling container's own stats document sits at ${URI}/stats: it must not be taken instead.
    server.route(f"/{version}/abc/stats", Reply(body=raw(fixtures_dir, "v4-container-stats-ec2-bridge.json")))
    var = "ECS_CONTAINER_METADATA_URI_V4" if version == "v4" else "ECS_CONTAINER_METADATA_URI"
    got = sources.collect({var: server.url + f"/{version}/abc"}, None, opts(with_stats=True))
    assert got.source == f"tmde-{version}"
    assert got.stats == load(fixtures_dir, stats)
    if "cgroupv2" in stats:
        assert "18446744073709551615" in json.dumps(got.stats)  # 2**64-1 stays an exact int
    assert f"/{version}/abc/stats" not in [r["path"] for r in server.requests]


@pytest.mark.parametrize("stats", TASK_STATS)
def test_task_stats_through_v2(fixtures_dir: Path, server: FakeServer, stats: str) -> None:
    server.route("/v2/metadata", Reply(body=raw(fixtures_dir, "v2-metadata-task-awsvpc.json")))
    server.route("/v2/stats", Reply(body=raw(fixtures_dir, stats)))
    got = sources.collect({"TASKBEACON_TMDE_V2_URL": server.url + "/v2"}, None, opts(with_stats=True))
    assert (got.source, got.stats) == ("tmde-v2", load(fixtures_dir, stats))
    assert [r["path"] for r in server.requests] == ["/v2/metadata", "/v2/stats"]


@pytest.mark.parametrize("name", CONTAINER_STATS)
def test_container_stats_at_its_own_path_is_not_read(
    fixtures_dir: Path, server: FakeServer, name: str
) -> None:
    # Served where ECS serves it (${ECS_CONTAINER_METADATA_URI_V4}/stats); no /task/stats here.
    server.route("/v4/abc/task", Reply(body=raw(fixtures_dir, "v4-task-ec2-bridge.json")))
    server.route("/v4/abc/stats", Reply(body=raw(fixtures_dir, name)))
    got = sources.collect(
        {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"},
        None,
        opts(with_stats=True, deadline=time.monotonic() + 10, sleep=lambda s: None),
    )
    assert got.task == load(fixtures_dir, "v4-task-ec2-bridge.json")
    assert got.stats is None  # /task/stats answered 404: stats are optional, the snapshot still goes
    paths = [r["path"] for r in server.requests]
    assert "/v4/abc/task/stats" in paths and "/v4/abc/stats" not in paths


def test_v4_stats_absent_without_flag(fixtures_dir: Path, server: FakeServer) -> None:
    server.route("/v4/abc/task", Reply(body=raw(fixtures_dir, "v4-task-ec2-bridge.json")))
    sources.collect({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"}, None, opts())
    assert all("stats" not in r["path"] for r in server.requests)


@pytest.mark.parametrize("name", MANAGED_DAEMON_TASKS)
def test_managed_daemon_task_elements_as_v4(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    for doc in load(fixtures_dir, name):  # type: ignore[attr-defined]
        server.route("/v4/m/task", Reply(body=doc))
        got = sources.collect({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/m"}, None, opts())
        assert got.task == doc


@pytest.mark.parametrize("task", TASK_V3 + TASK_V2)
def test_v3(fixtures_dir: Path, server: FakeServer, task: str) -> None:
    server.route("/v3/abc/task", Reply(body=raw(fixtures_dir, task)))
    server.route("/v3/abc", Reply(body=raw(fixtures_dir, "v3-container-ec2-awsvpc.json")))
    server.route("/v3/abc/task/stats", Reply(body=raw(fixtures_dir, "v4-task-stats-ec2.json")))
    env = {"ECS_CONTAINER_METADATA_URI": server.url + "/v3/abc"}
    got = sources.collect(env, None, opts(with_stats=True))
    assert (got.source, got.task) == ("tmde-v3", load(fixtures_dir, task))
    assert got.container == load(fixtures_dir, "v3-container-ec2-awsvpc.json")
    assert got.stats == load(fixtures_dir, "v4-task-stats-ec2.json")


def test_v3_with_tags(fixtures_dir: Path, server: FakeServer) -> None:
    server.route("/v3/abc/taskWithTags", Reply(body=raw(fixtures_dir, "v2-taskwithtags-ec2-awsvpc.json")))
    got = sources.collect({"ECS_CONTAINER_METADATA_URI": server.url + "/v3/abc"}, None, opts(with_tags=True))
    assert got.task == load(fixtures_dir, "v2-taskwithtags-ec2-awsvpc.json")


@pytest.mark.parametrize("task", TASK_V2 + TASK_V3)
def test_v2_auto_detected_by_probe(fixtures_dir: Path, server: FakeServer, task: str) -> None:
    server.route("/v2/metadata", Reply(body=raw(fixtures_dir, task)))
    server.route("/v2/stats", Reply(body=b'{"abc": null}'))
    got = sources.collect({"TASKBEACON_TMDE_V2_URL": server.url + "/v2"}, None, opts(with_stats=True))
    assert (got.source, got.task, got.stats) == ("tmde-v2", load(fixtures_dir, task), {"abc": None})


@pytest.mark.parametrize("name", TASK_WITH_TAGS_V2)
def test_v2_with_tags(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    server.route("/v2/metadataWithTags", Reply(body=raw(fixtures_dir, name)))
    env = {"TASKBEACON_TMDE_V2_URL": server.url + "/v2"}
    got = sources.collect(env, "tmde-v2", opts(with_tags=True))
    assert got.task == load(fixtures_dir, name)


@pytest.mark.parametrize("name", METADATA_READY)
def test_metadata_file_ready(fixtures_dir: Path, name: str) -> None:
    env = {
        "ECS_CONTAINER_METADATA_FILE": str(fixtures_dir / name),
        "TASKBEACON_TMDE_V2_URL": "http://127.0.0.1:9/v2",
    }
    got = sources.collect(env, None, opts())
    assert (got.source, got.task) == ("metadata-file", load(fixtures_dir, name))


@pytest.mark.parametrize("name", METADATA_NOT_READY)
def test_metadata_file_not_ready_until_ready(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    target = tmp_path / "ecs-container-metadata.json"
    target.write_bytes(raw(fixtures_dir, name))
    env = {"ECS_CONTAINER_METADATA_FILE": str(target)}
    with pytest.raises(sources.NotReady):
        sources.collect(env, "metadata-file", opts(deadline=time.monotonic() + 0.3))
    # The ECS agent replaces the file atomically; the next read must see READY.
    replace_atomically(target, raw(fixtures_dir, "metadata-file-ready-bridge.json"))
    got = sources.collect(env, "metadata-file", opts(deadline=time.monotonic() + 0.3))
    assert got.task == load(fixtures_dir, "metadata-file-ready-bridge.json")


def replace_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def not_ready_env(fixtures_dir: Path, tmp_path: Path, name: str) -> tuple[Path, dict[str, str]]:
    target = tmp_path / "ecs-container-metadata.json"
    target.write_bytes(raw(fixtures_dir, name))
    # Only the metadata file exists here: no v4/v3 variable, nothing listening for v2.
    env = {
        "ECS_CONTAINER_METADATA_FILE": str(target),
        "TASKBEACON_TMDE_V2_URL": f"http://127.0.0.1:{closed_port()}/v2",
    }
    return target, env


@pytest.mark.parametrize("name", METADATA_NOT_READY)
def test_metadata_file_not_ready_auto_detect(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    _, env = not_ready_env(fixtures_dir, tmp_path, name)
    with pytest.raises(sources.NotReady):  # not "no source": the file exists, it is just not READY
        sources.collect(env, None, opts())
    sleeps: list[float] = []

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        time.sleep(delay)

    with pytest.raises(sources.NotReady):
        sources.collect(env, None, opts(deadline=time.monotonic() + 0.5, sleep=sleep))
    assert sleeps and all(d == pytest.approx(0.2) for d in sleeps)  # it polled the file, then gave up


@pytest.mark.parametrize("source", [None, "metadata-file"], ids=["auto", "forced"])
@pytest.mark.parametrize("name", METADATA_NOT_READY)
def test_metadata_file_turning_ready_while_waiting(
    fixtures_dir: Path, tmp_path: Path, name: str, source: str | None
) -> None:
    target, env = not_ready_env(fixtures_dir, tmp_path, name)
    sleeps: list[float] = []

    def sleep(delay: float) -> None:  # the ECS agent writes READY while the agent waits
        sleeps.append(delay)
        replace_atomically(target, raw(fixtures_dir, "metadata-file-ready-bridge.json"))

    got = sources.collect(env, source, opts(deadline=time.monotonic() + 30, sleep=sleep))
    ready = load(fixtures_dir, "metadata-file-ready-bridge.json")
    assert (got.source, got.task) == ("metadata-file", ready)
    assert sleeps == [pytest.approx(0.2)]  # exactly one poll wait: the first read saw it not READY


@pytest.mark.parametrize("name", METADATA_NOT_READY)
def test_once_metadata_file_never_ready_exits_no_source(
    fixtures_dir: Path, tmp_path: Path, name: str
) -> None:
    _, env = not_ready_env(fixtures_dir, tmp_path, name)
    env["PYTHONPATH"] = str(Path(credentials.__file__).resolve().parents[1])
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        [sys.executable, "-m", "taskbeacon_agent", "once", "--dry-run", "--budget", "0.6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # README: 3 = "no metadata source (or the metadata file never became READY within the budget)"
    assert done.returncode == config.EXIT_NO_SOURCE == 3
    assert "not READY" in done.stderr and done.stdout == ""


@pytest.mark.parametrize("name", METADATA_NOT_READY)
def test_once_waits_for_metadata_file_to_become_ready(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    target, env = not_ready_env(fixtures_dir, tmp_path, name)
    sleeps: list[float] = []

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        replace_atomically(target, raw(fixtures_dir, "metadata-file-ready-bridge.json"))

    monkeypatch.setattr(time, "sleep", sleep)  # the Reporter's retry/poll seam defaults to time.sleep
    out, err = io.StringIO(), io.StringIO()
    cfg = config.Config(env, dry_run=True, budget=30.0, timeout=0.5, out=out, err=err)
    assert once.run(cfg) == config.EXIT_OK, err.getvalue()
    sent = json.loads(out.getvalue())
    ready = load(fixtures_dir, "metadata-file-ready-bridge.json")
    assert (sent["source"], sent["task"]) == ("metadata-file", ready)
    assert sleeps == [pytest.approx(0.2)]


@pytest.mark.parametrize("name", INTROSPECTION_TASKS)
def test_introspection(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    server.route("/v1/tasks", Reply(body=raw(fixtures_dir, name)))
    env = {"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}
    got = sources.collect(env, "introspection", opts())
    assert got.tasks == load(fixtures_dir, name)["Tasks"]  # type: ignore[index]
    assert got.task is None


@pytest.mark.parametrize("name", INTROSPECTION_SINGLE)
def test_introspection_single_object_is_rejected_cleanly(
    fixtures_dir: Path, server: FakeServer, name: str
) -> None:
    server.route("/v1/tasks", Reply(body=raw(fixtures_dir, name)))
    with pytest.raises(sources.SourceError):
        sources.collect({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, "introspection", opts())


@pytest.mark.parametrize("uri", ["relative", "full"])
@pytest.mark.parametrize("name", CREDENTIALS)
def test_credentials_document(
    fixtures_dir: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, name: str, uri: str
) -> None:
    server.route("/v2/credentials/abc", Reply(body=raw(fixtures_dir, name)))
    if uri == "relative":
        # ECS: http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; here the loopback fake.
        monkeypatch.setattr(credentials, "ECS_CREDENTIALS_HOST", server.url)
        env = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"}
    else:
        env = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials/abc",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "token-for-full-uri",
        }
    creds = credentials.Resolver(env).get()
    doc = load(fixtures_dir, name)
    assert (creds.access_key, creds.secret_key, creds.token) == (
        doc["AccessKeyId"],  # type: ignore[index]
        doc["SecretAccessKey"],  # type: ignore[index]
        doc["Token"],  # type: ignore[index]
    )
    assert creds.expiration is None  # placeholder "EXPIRATION_DATE" is not a date: never crash on it
    [req] = server.requests
    assert req["path"] == "/v2/credentials/abc"
    # The authorization token goes with FULL_URI only (as botocore does).
    assert req["headers"].get("Authorization") == ("token-for-full-uri" if uri == "full" else None)


def run_daemon(server: FakeServer, cycles: int) -> tuple[list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    cfg = config.Config(
        {"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"},
        source="introspection",
        dry_run=True,
        interval=0.02,
        budget=2.0,
        timeout=0.5,
        out=out,
        err=err,
    )
    assert daemon.run(cfg, threading.Event(), max_cycles=cycles) == config.EXIT_OK
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.mark.parametrize("name", INTROSPECTION_TASKS)
def test_introspection_through_daemon(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    server.route("/v1/tasks", Reply(body=raw(fixtures_dir, name)))
    sent, _ = run_daemon(server, cycles=2)
    assert len(sent) == 1  # the second poll saw the same tasks: nothing more to send
    assert sent[0]["reason"] == "start" and sent[0]["source"] == "introspection"
    assert sent[0]["tasks"] == load(fixtures_dir, name)["Tasks"]  # type: ignore[index]
    assert "task" not in sent[0]


@pytest.mark.parametrize("name", INTROSPECTION_SINGLE)
def test_introspection_single_object_through_daemon(
    fixtures_dir: Path, server: FakeServer, name: str
) -> None:
    # /v1/tasks?dockerid=... returns one task object: the daemon sends nothing, logs once, keeps going.
    server.route("/v1/tasks", Reply(body=raw(fixtures_dir, name)))
    sent, err = run_daemon(server, cycles=3)
    assert sent == []
    assert err.count("no Tasks array") == 1
    assert len([r for r in server.requests if r["path"] == "/v1/tasks"]) == 3


def test_auto_order_prefers_v4_over_v3(fixtures_dir: Path, server: FakeServer) -> None:
    server.route("/v4/a/task", Reply(body=raw(fixtures_dir, "v4-task-ec2-awsvpc.json")))
    server.route("/v3/a/task", Reply(body=raw(fixtures_dir, "v3-task-ec2-awsvpc.json")))
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/a",
        "ECS_CONTAINER_METADATA_URI": server.url + "/v3/a",
    }
    assert sources.collect(env, None, opts()).source == "tmde-v4"
    assert sources.collect(env, "tmde-v3", opts()).source == "tmde-v3"


def test_v4_failing_falls_back_to_v3(fixtures_dir: Path, server: FakeServer) -> None:
    server.route("/v4/a/task", Reply(400, b'"bad"'))
    server.route("/v3/a/task", Reply(body=raw(fixtures_dir, "v3-task-ec2-awsvpc.json")))
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/a",
        "ECS_CONTAINER_METADATA_URI": server.url + "/v3/a",
    }
    got = sources.collect(env, None, opts(deadline=time.monotonic() + 3))
    assert got.source == "tmde-v3"


# Keys that v3 never returns (v2 struct with includeV4Metadata=false; notes §4).
V4_ONLY_KEYS = {"LaunchType", "Errors", "VPCID", "ServiceName", "ClockDrift", "EphemeralStorageMetrics"}
V4_ONLY_CONTAINER_KEYS = {"LogDriver", "LogOptions", "ContainerARN"}


def test_only_v3_shaped_tagged_documents_go_through_v3(fixtures_dir: Path) -> None:
    # The v3 /taskWithTags tests use TASK_WITH_TAGS_V2 only. The DataDog-edited document carries
    # v4-only fields, so v3 cannot have produced it: it goes through v4 only.
    def v4_only(doc: dict) -> set[str]:
        keys = set(doc) & V4_ONLY_KEYS
        for c in doc.get("Containers") or []:
            keys |= set(c) & V4_ONLY_CONTAINER_KEYS
        return keys

    for name in TASK_WITH_TAGS_V2:
        assert v4_only(load(fixtures_dir, name)) == set(), name  # type: ignore[arg-type]
    edited = load(fixtures_dir, "v4-taskwithtags-health-volumes-datadog-edited.json")
    assert v4_only(edited) == {  # type: ignore[arg-type]
        "LaunchType", "ClockDrift", "EphemeralStorageMetrics", "LogDriver", "LogOptions", "ContainerARN"
    }  # fmt: skip
