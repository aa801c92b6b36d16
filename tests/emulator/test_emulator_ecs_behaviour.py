"""The emulator behaves like ECS where clients rely on it: the relative credentials URI (no token)
beside the full URI (token), credentials that stay the same until they rotate, and container
instance ARNs in the task's own partition, region, account and cluster. Real sockets, real
clients (botocore's container provider, the project's agent)."""

from __future__ import annotations

import datetime
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskbeacon.emulator import Emulator, example, make_task_doc
from tests.emulator.test_emulator_with_agent import agent

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CREDENTIAL_KEYS = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator().start()
    yield e
    e.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# -- relative credentials URI -----------------------------------------------------------------------
def test_relative_uri_serves_the_tasks_credentials_without_a_token(emu: Emulator) -> None:
    task = emu.add_task(example("fargate")["task"])
    env = task.env()
    assert task.relative_credentials_uri.startswith("/v2/credentials/")
    status, relative = get(emu.url + task.relative_credentials_uri)  # no Authorization header at all
    assert status == 200 and set(relative) == CREDENTIAL_KEYS
    status, v1 = get(f"{emu.url}/v1/credentials?id={task.credentials_id}")  # the older documented form
    assert status == 200
    token = {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
    status, full = get(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], token)
    assert status == 200
    assert relative == v1 == full  # one task role, one set of credentials, whichever URI
    assert get(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"])[0] == 401  # the full URI still needs the token


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/credentials/", 400, "NoIdInRequest"),
        ("/v2/credentials/9d689a6a-c513-4314-87bf-7783e7d8297a", 400, "InvalidIdInRequest"),
        ("/v1/credentials", 400, "NoIdInRequest"),
        ("/v1/credentials?id=", 400, "NoIdInRequest"),
        ("/v1/credentials?id=7af1f49b-f356-4218-9d57-8ecaf2a9341b", 400, "InvalidIdInRequest"),
    ],
)
def test_relative_uri_errors_answer_like_the_ecs_agent(
    emu: Emulator, path: str, status: int, code: str
) -> None:
    emu.add_task(example("fargate")["task"])
    got, body = get(emu.url + path)
    assert (got, body["code"]) == (status, code)


def test_each_task_has_its_own_relative_uri(emu: Emulator) -> None:
    tasks = [emu.add_task(example(n)["task"]) for n in ("fargate", "ec2-awsvpc", "ec2-bridge")]
    assert len({t.relative_credentials_uri for t in tasks}) == 3
    served = {json.dumps(get(emu.url + t.relative_credentials_uri)[1], sort_keys=True) for t in tasks}
    assert len(served) == 3


def test_botocore_container_provider_reads_the_relative_uri(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.credentials import ContainerProvider
    from botocore.utils import ContainerMetadataFetcher

    task = emu.add_task(example("ec2-awsvpc")["task"])
    # botocore resolves the relative URI against 169.254.170.2; point that address at the emulator.
    monkeypatch.setattr(ContainerMetadataFetcher, "IP_ADDRESS", emu.url.removeprefix("http://"))
    provider = ContainerProvider(
        environ={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": task.relative_credentials_uri}
    )
    frozen = provider.load().get_frozen_credentials()
    served = get(emu.url + task.relative_credentials_uri)[1]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        served["AccessKeyId"],
        served["SecretAccessKey"],
        served["Token"],
    )


def test_the_agent_reads_the_relative_uri(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskbeacon_agent import credentials

    task = emu.add_task(example("fargate")["task"])
    monkeypatch.setattr(credentials, "ECS_CREDENTIALS_HOST", emu.url)
    got = credentials.from_container(
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": task.relative_credentials_uri}
    )
    assert (
        got is not None and got.access_key == get(emu.url + task.relative_credentials_uri)[1]["AccessKeyId"]
    )


@pytest.mark.parametrize(
    ("advertise", "port", "announced"),
    [
        ("169.254.170.2", 80, True),
        ("169.254.170.2", 51679, False),
        (None, 80, False),
        ("10.0.0.9", 80, False),
    ],
)
def test_relative_uri_is_announced_only_where_it_leads_to_the_emulator(
    advertise: str | None, port: int, announced: bool
) -> None:
    # SDKs prefer the relative URI and resolve it against 169.254.170.2:80 only.
    emulator = Emulator(port=port, advertise_host=advertise)  # not started: env() is what is printed
    try:
        task = emulator.add_task(example("fargate")["task"])
        env = task.env()
    finally:
        emulator.stop()
    assert ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" in env) is announced
    if announced:
        assert env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == task.relative_credentials_uri
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env and "AWS_CONTAINER_AUTHORIZATION_TOKEN" in env


# -- credentials stay the same until they rotate ----------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 11, 28, 9, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


def counting_provider(lifetime: datetime.timedelta | None, clock: Clock) -> tuple[Any, list[str]]:
    minted: list[str] = []
    lock = threading.Lock()

    def provide(task_arn: str) -> dict[str, Any]:
        with lock:
            key = f"ASIAROTATE{len(minted):06d}"
            minted.append(key)
        creds = {
            "AccessKeyId": key,
            "SecretAccessKey": "s-" + key,
            "Token": "t-" + key,
            "RoleArn": "arn:aws:iam::1:role/r",
        }
        if lifetime is not None:
            creds["Expiration"] = (clock.now + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        return creds

    return provide, minted


def fetch_both(emu: Emulator, task: Any) -> list[str]:
    env = task.env()
    relative = get(emu.url + task.relative_credentials_uri)[1]
    full = get(
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
    )[1]
    assert relative == full
    return [relative["AccessKeyId"], relative["Token"]]


@FUZZ
@given(
    lifetime_minutes=st.integers(min_value=6, max_value=12 * 60),
    rotate_minutes=st.integers(min_value=1, max_value=5),
    reads=st.integers(min_value=2, max_value=6),
)
def test_credentials_are_the_same_until_close_to_expiration_then_rotate(
    lifetime_minutes: int, rotate_minutes: int, reads: int
) -> None:
    clock = Clock()
    lifetime, window = (
        datetime.timedelta(minutes=lifetime_minutes),
        datetime.timedelta(minutes=rotate_minutes),
    )
    provider, minted = counting_provider(lifetime, clock)
    with Emulator(credentials_provider=provider, rotate_before=window) as emu:
        emu.clock = clock
        task = emu.add_task(example("ec2-awsvpc")["task"])
        start, first = clock.now, fetch_both(emu, task)
        last_same = lifetime - window - datetime.timedelta(seconds=1)
        for read in range(1, reads + 1):  # up to one second before the rotation point: always the same
            clock.now = start + last_same * read / reads
            assert fetch_both(emu, task) == first
        clock.now = start + lifetime - window  # at the rotation point: new credentials, once
        second = fetch_both(emu, task)
        assert second != first and fetch_both(emu, task) == second
    assert len(minted) == 2


@pytest.mark.parametrize("expiration", [None, "", "soon", "2026-13-01T00:00:00Z", 12345])
def test_credentials_without_a_readable_expiration_never_rotate(expiration: Any) -> None:
    clock = Clock()
    provider, minted = counting_provider(None, clock)

    def provide(task_arn: str) -> dict[str, Any]:
        return {**provider(task_arn), "Expiration": expiration}

    with Emulator(credentials_provider=provide) as emu:
        emu.clock = clock
        task = emu.add_task(example("fargate")["task"])
        first = fetch_both(emu, task)
        clock.now += datetime.timedelta(days=30)
        assert fetch_both(emu, task) == first
    assert len(minted) == 1


def test_expired_or_short_lived_credentials_are_asked_for_on_every_read() -> None:
    # A provider that only has credentials inside the rotation window: each read asks again, as a
    # client asking ECS shortly before expiry gets the newest credentials the agent holds.
    clock = Clock()
    provider, minted = counting_provider(datetime.timedelta(minutes=2), clock)
    with Emulator(credentials_provider=provider) as emu:
        emu.clock = clock
        task = emu.add_task(example("fargate")["task"])
        keys = {get(emu.url + task.relative_credentials_uri)[1]["AccessKeyId"] for _ in range(3)}
    assert len(keys) == 3 == len(minted)


def test_default_fake_credentials_are_stable_across_reads(emu: Emulator) -> None:
    task = emu.add_task(example("fargate")["task"])
    assert len({json.dumps(get(emu.url + task.relative_credentials_uri)[1]) for _ in range(5)}) == 1


def test_rotate_credentials_forces_new_ones(emu: Emulator) -> None:
    task = emu.add_task(example("fargate")["task"])
    before = fetch_both(emu, task)
    task.rotate_credentials()
    after = fetch_both(emu, task)
    assert after != before and fetch_both(emu, task) == after


def test_concurrent_first_reads_get_one_set_of_credentials() -> None:
    clock = Clock()
    provider, minted = counting_provider(datetime.timedelta(hours=6), clock)
    with Emulator(credentials_provider=provider) as emu:
        emu.clock = clock
        task = emu.add_task(example("fargate")["task"])
        seen: list[str] = []
        threads = [
            threading.Thread(
                target=lambda: seen.append(get(emu.url + task.relative_credentials_uri)[1]["AccessKeyId"])
            )
            for _ in range(16)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
    assert len(seen) == 16 and len(set(seen)) == 1 and len(minted) == 1


# -- container instance ARNs ------------------------------------------------------------------------
PARTITIONS = {
    "aws": ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"],
    "aws-cn": ["cn-north-1", "cn-northwest-1"],
    "aws-us-gov": ["us-gov-west-1", "us-gov-east-1"],
    "aws-iso": ["us-iso-east-1"],
}
task_places = st.sampled_from(sorted(PARTITIONS)).flatmap(
    lambda partition: st.tuples(
        st.just(partition),
        st.sampled_from(PARTITIONS[partition]),
        st.from_regex(r"[0-9]{12}", fullmatch=True),
        st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,30}", fullmatch=True),
        st.sampled_from(["new", "old"]),
    )
)


def ec2_task(partition: str, region: str, account: str, cluster: str, arn_format: str) -> dict[str, Any]:
    doc = make_task_doc(cluster, "EC2", account, region, "web", service="web", network_mode="bridge")
    task_id = doc["TaskARN"].rsplit("/", 1)[-1]
    if arn_format == "old":
        task_id = str(uuid.UUID(task_id))
    arn = f"arn:{partition}:ecs:{region}:{account}:task/" + (
        f"{cluster}/{task_id}" if arn_format == "new" else task_id
    )
    doc["TaskARN"] = arn
    return doc


def instance_place(arn: str) -> tuple[str, str, str, str | None]:
    prefix, resource = arn.split(":container-instance/")
    _, partition, service, region, account = prefix.split(":")
    assert service == "ecs"
    path = resource.split("/")
    return partition, region, account, path[0] if len(path) == 2 else None


@FUZZ
@given(place=task_places)
def test_container_instance_arn_follows_the_tasks_partition_region_account_and_cluster(
    emu: Emulator, place: tuple[str, str, str, str, str]
) -> None:
    partition, region, account, cluster, arn_format = place
    task = emu.add_task(ec2_task(*place), tag_errors=["ContainerInstanceTags"])
    expected = (partition, region, account, cluster if arn_format == "new" else None)
    served = {
        "metadata file": json.loads(Path(task.env()["ECS_CONTAINER_METADATA_FILE"]).read_text())[
            "ContainerInstanceARN"
        ],
        "taskWithTags errors": get(task.env()["ECS_CONTAINER_METADATA_URI_V4"] + "/taskWithTags")[1][
            "Errors"
        ][0]["ResourceARN"],
        "property": task.container_instance_arn,
    }
    assert len(set(served.values())) == 1, served
    assert instance_place(task.container_instance_arn) == expected


@FUZZ
@given(place=task_places)
def test_the_servers_own_check_accepts_the_metadata_file(
    emu: Emulator, place: tuple[str, str, str, str, str]
) -> None:
    # Ingest refuses a metadata file whose instance is in another region or account than its task.
    from core.normalize.metadata_file import parse_file
    from core.normalize.reader import Obj

    task = emu.add_task(ec2_task(*place))
    document = json.loads(Path(task.env()["ECS_CONTAINER_METADATA_FILE"]).read_text())
    parsed = parse_file(Obj(document, "task"))
    assert parsed.container_instance_arn == task.container_instance_arn
    assert (parsed.region, parsed.account_id) == (place[1], place[2])


def test_tasks_of_one_cluster_share_an_instance_and_other_clusters_have_their_own(emu: Emulator) -> None:
    blue = [
        emu.add_task(make_task_doc("blue", "EC2", "111122223333", "eu-west-1", f"f{i}")) for i in range(3)
    ]
    green = emu.add_task(make_task_doc("green", "EC2", "111122223333", "eu-west-1", "g"))
    other_region = emu.add_task(make_task_doc("blue", "EC2", "111122223333", "us-east-2", "h"))
    other_account = emu.add_task(make_task_doc("blue", "EC2", "444455556666", "eu-west-1", "i"))
    assert len({t.container_instance_arn for t in blue}) == 1
    arns = {blue[0].container_instance_arn, green.container_instance_arn, other_region.container_instance_arn}
    assert len(arns | {other_account.container_instance_arn}) == 4
    # Introspection describes one host: the first EC2 task's instance, with that task's cluster.
    status, metadata = get(emu.url + "/v1/metadata")
    assert status == 200 and metadata["ContainerInstanceArn"] == blue[0].container_instance_arn
    assert metadata["Cluster"] == "blue"
    # A fresh emulator is a new host: new instance ids, same places.
    with Emulator() as again:
        twin = again.add_task(make_task_doc("blue", "EC2", "111122223333", "eu-west-1", "f0"))
        assert twin.container_instance_arn != blue[0].container_instance_arn
        assert instance_place(twin.container_instance_arn) == instance_place(blue[0].container_instance_arn)


def test_a_named_host_applies_only_where_it_can_be_the_tasks(emu: Emulator) -> None:
    host = "arn:aws:ecs:us-west-2:111122223333:container-instance/default/" + str(uuid.uuid4())
    emu.container_instance_arn = host
    same = emu.add_task(example("ec2-bridge")["task"])  # us-west-2, 111122223333, cluster default
    elsewhere = emu.add_task(make_task_doc("default", "EC2", "111122223333", "eu-west-1", "x"))
    assert same.container_instance_arn == host
    assert instance_place(elsewhere.container_instance_arn) == ("aws", "eu-west-1", "111122223333", "default")


@pytest.mark.parametrize("name", ["ec2-bridge", "ec2-awsvpc"])
def test_the_agent_reads_a_metadata_file_whose_instance_is_the_tasks(emu: Emulator, name: str) -> None:
    # Reproduces issue 7.7: the file named a us-east-1 instance for a us-west-2 task.
    task = emu.add_task(example(name)["task"])
    done = agent(task.env(), "once", "--dry-run", "--source", "metadata-file")
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)["task"]
    task_region, task_account = sent["TaskARN"].split(":")[3:5]
    assert instance_place(sent["ContainerInstanceARN"])[1:3] == (task_region, task_account)
