"""Every shared ECS fixture goes through every agent source it belongs to, over real loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply

from taskbeacon_agent import credentials, sources

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
STATS = [
    "v4-task-stats-ec2.json",
    "v4-task-stats-managed-instances-cgroupv2-no-network.json",
    "v4-container-stats-ec2-bridge.json",
]
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
    TASK_V4 + TASK_WITH_TAGS_V4 + CONTAINER_V4 + STATS + TASK_V3 + CONTAINER_V3 + TASK_V2 + TASK_WITH_TAGS_V2
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


@pytest.mark.parametrize("stats", STATS)
def test_v4_stats_keep_big_integers(fixtures_dir: Path, server: FakeServer, stats: str) -> None:
    server.route("/v4/abc/task", Reply(body=raw(fixtures_dir, "v4-task-ec2-bridge.json")))
    server.route("/v4/abc/task/stats", Reply(body=raw(fixtures_dir, stats)))
    got = sources.collect(
        {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"}, None, opts(with_stats=True)
    )
    assert got.stats == load(fixtures_dir, stats)
    if "cgroupv2" in stats:
        assert "18446744073709551615" in json.dumps(got.stats)  # 2**64-1 stays an exact int


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
    import time

    with pytest.raises(sources.NotReady):
        sources.collect(env, "metadata-file", opts(deadline=time.monotonic() + 0.3))
    # The ECS agent replaces the file atomically; the next read must see READY.
    tmp = tmp_path / "tmp.json"
    tmp.write_bytes(raw(fixtures_dir, "metadata-file-ready-bridge.json"))
    tmp.replace(target)
    got = sources.collect(env, "metadata-file", opts(deadline=time.monotonic() + 0.3))
    assert got.task == load(fixtures_dir, "metadata-file-ready-bridge.json")


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


@pytest.mark.parametrize("name", CREDENTIALS)
def test_credentials_document(fixtures_dir: Path, server: FakeServer, name: str) -> None:
    server.route("/v2/credentials/abc", Reply(body=raw(fixtures_dir, name)))
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials/abc"}
    creds = credentials.Resolver(env).get()
    doc = load(fixtures_dir, name)
    assert (creds.access_key, creds.secret_key, creds.token) == (
        doc["AccessKeyId"],  # type: ignore[index]
        doc["SecretAccessKey"],  # type: ignore[index]
        doc["Token"],  # type: ignore[index]
    )
    assert creds.expiration is None  # placeholder "EXPIRATION_DATE" is not a date: never crash on it


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
    import time

    server.route("/v4/a/task", Reply(400, b'"bad"'))
    server.route("/v3/a/task", Reply(body=raw(fixtures_dir, "v3-task-ec2-awsvpc.json")))
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/a",
        "ECS_CONTAINER_METADATA_URI": server.url + "/v3/a",
    }
    got = sources.collect(env, None, opts(deadline=time.monotonic() + 3))
    assert got.source == "tmde-v3"
