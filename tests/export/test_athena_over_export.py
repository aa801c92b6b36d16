"""The committed Athena SQL, run on a real table written in the DynamoDB export format, agrees with the API.

The table is written by the project's own request path and indexer (``Inventory.apply``), scanned,
and laid out exactly as ``export-table-to-point-in-time --export-format DYNAMODB_JSON`` writes it
(tests/export/export_files.py), then inflated as docs/export.md says (``taskbeacon export inflate``: the
record's compressed body becomes readable ``doc`` and ``hist``). The queries in exports/athena are then
transpiled to DuckDB and run on those gzipped files (tests/export/athena_local.py), and their answers
are checked against what QueryService (GET /tasks, /search, /tasks/{id}/history) says for the same data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import NotFound
from core.model import Container, Network, Observation, Task
from core.normalize import normalize_snapshot
from core.store import records as records_module
from core.store.schema import Attr
from tests.ecs_fixtures import FIXTURES
from tests.engines import engine_table
from tests.export import athena_local
from tests.export.export_files import Export, inflated, write_export
from tests.store.builders import task
from tests.store.inventory import Inventory, all_items

H = timedelta(hours=1)
# Relative to the wall clock: the API hides expired tasks by the real time, and so do the queries.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
B = NOW - timedelta(days=2)
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _observe(t: Task, at: datetime, source: str = "tmde-v4", **extra: Any) -> tuple[Observation, datetime]:
    reporter = "eventbridge" if source == "event" else "agent-1"
    return Observation(task=t, source=source, observed_at=at, reporter=reporter, **extra), at


def _ran(
    number: int,
    start: datetime | None,
    stop: datetime | None,
    *,
    cluster: str = "prod",
    launch_type: str = "FARGATE",
    digest: str = DIGEST_A,
    seen: datetime | None = None,
    status: str = "RUNNING",
    sidecar_digest: str | None = None,
) -> list[tuple[Observation, datetime]]:
    running = task(number, cluster=cluster, digest=digest, launch_type=launch_type, status=status)
    running = running.model_copy(update={"started_at": start})
    if sidecar_digest:
        sidecar = Container(
            name="envoy",
            image="envoyproxy/envoy:v1.31",
            image_digest=sidecar_digest,
            networks=[Network(network_mode="awsvpc", ipv4_addresses=[f"10.0.1.{number}"])],
        )
        running = running.model_copy(update={"containers": [*running.containers, sidecar]})
    first = seen or start
    assert first is not None
    plays = [_observe(running, first, reason="start")]
    if stop is not None:
        stopped = running.model_copy(
            update={"last_status": "STOPPED", "stopped_at": stop, "stopped_reason": "Scaling activity"}
        )
        plays.append(_observe(stopped, stop, source="event", event_version=9))
    return plays


def _fixture_task(at: datetime) -> list[tuple[Observation, datetime]]:
    """A recorded Fargate task (AWS docs example) through the real normalizer."""
    body = {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": _iso(at),
        "sequence": 1,
        "reason": "start",
        "agent": {"version": "0.1.0", "mode": "sidecar", "instanceId": "agent-9"},
        "task": json.loads((FIXTURES / "v4-task-fargate-docs.json").read_text()),
    }
    return [(observation, at) for observation in normalize_snapshot(body)]


# Past its record's expiry: max(stop + 30 days retention, first lease = first sight + 30 + 14 days).
EXPIRED_STOP = NOW - timedelta(days=50)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Inventory, Export, Export]]:
    """The inventory, its export as DynamoDB writes it, and that export inflated (what Athena reads)."""
    plays = [
        *_ran(1, B - H, B + H),  # prod FARGATE A, stopped
        *_ran(2, B + 0.5 * H, None),  # prod FARGATE A, running
        *_ran(3, B - 3 * H, None, launch_type="EC2", digest=DIGEST_B, sidecar_digest=DIGEST_A),
        *_ran(4, B + 2 * H, None, cluster="dev"),  # dev FARGATE A
        *_ran(5, B - 30 * H, B - 26 * H),  # prod FARGATE A, the day before
        *_ran(6, B + 5 * H, None, launch_type="EC2"),  # prod EC2 A, after the windows
        *_ran(7, EXPIRED_STOP - H, EXPIRED_STOP),  # stopped 50 days ago: expired, still in the table
        *_ran(8, None, None, seen=B + 3 * H, status="PENDING"),  # never started: active from first sight
        *_fixture_task(B - 1.5 * H),
    ]
    with engine_table("moto") as table:
        inventory = Inventory(table.client, retention_days=30, now=NOW)  # the clock the SQL reads
        for observation, at in sorted(plays, key=lambda play: play[1]):
            inventory.apply(observation, now=at)
        items = all_items(table.client)
        export = write_export(items, tmp_path_factory.mktemp("s3"), export_time=NOW)
        readable = inflated(export, tmp_path_factory.mktemp("inflated") / export.export_id)
        yield inventory, export, readable


@pytest.fixture(scope="module")
def athena(fleet: tuple[Inventory, Export, Export]) -> Iterator[Any]:
    _, _, readable = fleet
    con = athena_local.connect(readable.data)
    yield con
    con.close()


def _pages(call: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = call(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


# -- the export files -------------------------------------------------------------------------------


def test_the_export_is_laid_out_as_dynamodb_writes_it(fleet: tuple[Inventory, Export, Export]) -> None:
    _, export, _ = fleet
    summary = json.loads((export.folder / "manifest-summary.json").read_text())
    assert summary["outputFormat"] == "DYNAMODB_JSON" and summary["exportType"] == "FULL_EXPORT"
    assert (export.root / summary["manifestFilesS3Key"]).is_file()
    entries = [
        json.loads(line) for line in (export.root / summary["manifestFilesS3Key"]).read_text().splitlines()
    ]
    assert sum(entry["itemCount"] for entry in entries) == summary["itemCount"] == export.item_count
    assert any(entry["itemCount"] == 0 for entry in entries)  # empty partitions get a file too
    lines = 0
    for entry in entries:
        body = (export.root / entry["dataFileS3Key"]).read_bytes()
        assert hashlib.md5(body).hexdigest() == entry["etag"]  # noqa: S324
        for line in gzip.decompress(body).decode().splitlines():
            (key,) = json.loads(line)
            assert key == "Item"
            lines += 1
    assert lines == export.item_count
    # The table holds more than task records (keepalives, index entries).
    assert export.item_count > 3 * 9


def test_the_committed_ddl_is_an_external_json_table_over_the_data_folder() -> None:
    properties = athena_local.export_table_properties()
    assert properties["external"] == "yes"
    assert properties["serde"] == "org.openx.data.jsonserde.JsonSerDe"
    assert properties["location"].startswith("s3://") and properties["location"].endswith("/data/")
    assert set(athena_local.export_table_columns()) == {"Item"}


def test_every_committed_file_is_one_athena_statement() -> None:
    files = sorted(athena_local.ATHENA.rglob("*.sql"))
    assert len(files) >= 5
    for path in files:
        athena_local.parse(str(path.relative_to(athena_local.ATHENA)))


# -- the views ------------------------------------------------------------------------------------


def test_the_tasks_view_has_each_task_record_once_with_the_apis_fields(
    fleet: tuple[Inventory, Export, Export], athena: Any
) -> None:
    inventory, _, _ = fleet
    rows = athena.execute(
        "SELECT task_arn, task_id, cluster_name, cluster_arn, launch_type, last_status, service_name, "
        "family, availability_zone, account_id, region, expires_at, len(containers) FROM taskbeacon_tasks"
    ).fetchall()
    arns = [row[0] for row in rows]
    assert len(arns) == len(set(arns)) == 9
    shown = 0
    for (
        arn,
        task_id,
        cluster,
        cluster_arn,
        launch,
        status,
        service,
        family,
        az,
        account,
        region,
        expires,
        n,
    ) in rows:
        try:
            api = inventory.query.get_task(arn)
        except NotFound:
            assert expires is not None and expires < NOW.timestamp()  # only the expired one is hidden
            continue
        shown += 1
        assert (task_id, cluster, cluster_arn, launch, status) == (
            api["taskId"],
            api["clusterName"],
            api["clusterArn"],
            api["launchType"],
            api["lastStatus"],
        )
        assert (service, family, az, account, region) == (
            api["serviceName"],
            api["family"],
            api["availabilityZone"],
            api["accountId"],
            api["region"],
        )
        assert n == len(api["containers"])
    assert shown == 8


# -- the queries ----------------------------------------------------------------------------------

MOMENTS = [
    B,
    B - H,
    B + H,
    B + 0.75 * H,
    B + 1.5 * H,
    B + 3 * H,
    B + 6 * H,
    B - 28 * H,
    B - 100 * H,
    EXPIRED_STOP - 0.5 * H,
]


@pytest.mark.parametrize("moment", MOMENTS, ids=_iso)
def test_running_at_by_cluster_and_launch_type_matches_active_at(
    fleet: tuple[Inventory, Export, Export], athena: Any, moment: datetime
) -> None:
    inventory, _, _ = fleet
    rows = athena_local.run(athena, "queries/running_at_by_cluster_and_launch_type.sql", _iso(moment))
    answered = {(row["cluster_name"], row["launch_type"]): row["running"] for row in rows}
    api = _pages(
        lambda cursor: inventory.query.list_tasks({}, since=None, limit=3, cursor=cursor, active_at=moment)
    )
    expected = Counter((item["clusterName"], item["launchType"]) for item in api)
    assert answered == dict(expected)


def test_running_at_counts_what_the_fleet_ran(athena: Any) -> None:
    """The answer itself, not only agreement: at B + 45 min, tasks 1, 2, 3, the fixture task."""
    rows = athena_local.run(athena, "queries/running_at_by_cluster_and_launch_type.sql", _iso(B + 0.75 * H))
    answered = {(row["cluster_name"], row["launch_type"]): row["running"] for row in rows}
    assert answered[("prod", "FARGATE")] == 2 and answered[("prod", "EC2")] == 1
    assert ("dev", "FARGATE") not in answered
    assert sum(answered.values()) == 4


WINDOWS = [
    (DIGEST_A, "prod", B - 2 * H, B),
    (DIGEST_A, "prod", B - 48 * H, B - 24 * H),
    (DIGEST_A, "dev", B, B + 4 * H),
    (DIGEST_A, "arn:aws:ecs:us-east-1:111122223333:cluster/prod", B + 4 * H, B + 6 * H),
    (DIGEST_B, "prod", B - 6 * H, B + 6 * H),
    (DIGEST_B, "dev", B - 6 * H, B + 6 * H),
    (DIGEST_A, "prod", EXPIRED_STOP - 2 * H, EXPIRED_STOP + H),
]


@pytest.mark.parametrize(("digest", "cluster", "start", "end"), WINDOWS)
def test_image_digest_in_cluster_during_window_matches_search_and_active_window(
    fleet: tuple[Inventory, Export, Export],
    athena: Any,
    digest: str,
    cluster: str,
    start: datetime,
    end: datetime,
) -> None:
    inventory, _, _ = fleet
    rows = athena_local.run(
        athena, "queries/image_digest_in_cluster_during_window.sql", digest, cluster, _iso(start), _iso(end)
    )
    answered = {row["task_arn"] for row in rows}
    with_digest = _pages(
        lambda cursor: inventory.query.search(
            "imageDigest", digest, status=None, at=None, limit=3, cursor=cursor
        )
    )
    in_window = _pages(
        lambda cursor: inventory.query.list_tasks(
            {"cluster": cluster}, since=None, limit=3, cursor=cursor, active_from=start, active_to=end
        )
    )
    expected = {item["taskArn"] for item in with_digest} & {item["taskArn"] for item in in_window}
    assert answered == expected
    for row in rows:
        assert row["active_from"] <= end and (row["active_until"] is None or row["active_until"] >= start)


def test_image_digest_finds_a_sidecar_container_and_names_it(athena: Any) -> None:
    rows = athena_local.run(
        athena,
        "queries/image_digest_in_cluster_during_window.sql",
        DIGEST_A,
        "prod",
        _iso(B - 4 * H),
        _iso(B - 2 * H),
    )
    assert [(row["task_arn"].rsplit("/", 1)[1], row["container_name"]) for row in rows] == [
        (f"{3:032x}", "envoy")
    ]


def test_status_changes_during_window_match_each_tasks_history(
    fleet: tuple[Inventory, Export, Export], athena: Any
) -> None:
    inventory, _, _ = fleet
    start, end = B - 2 * H, B + 6 * H
    rows = athena_local.run(athena, "queries/status_changes_during_window.sql", _iso(start), _iso(end))
    answered = [
        (row["task_arn"], row["at"], row["status_from"], row["status_to"], row["source"], row["reporter"])
        for row in rows
    ]
    arns = [row[0] for row in athena.execute("SELECT task_arn FROM taskbeacon_tasks").fetchall()]
    expected = []
    for arn in arns:
        try:
            entries = _pages(lambda cursor, arn=arn: inventory.query.history(arn, limit=2, cursor=cursor))
        except NotFound:
            continue
        for entry in entries:
            status = entry.get("changes", {}).get("lastStatus")
            at = datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))
            if status and start <= at <= end:
                expected.append((arn, at, status["from"], status["to"], entry["source"], entry["reporter"]))
    assert answered == sorted(expected, key=lambda row: (row[1], row[0]))
    assert ("STOPPED" in {row[3] for row in answered}) and len(answered) >= 5


# -- the inflate step (docs/export.md: between the export and the SQL) ------------------------------


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


def test_inflating_the_fleets_export_adds_doc_and_hist_to_each_record_and_nothing_else(
    fleet: tuple[Inventory, Export, Export],
) -> None:
    _, export, readable = fleet
    assert [path.name for path in readable.data_files] == [path.name for path in export.data_files]
    records = 0
    for raw_file, inflated_file in zip(export.data_files, readable.data_files, strict=True):
        for raw, done in zip(_lines(raw_file), _lines(inflated_file), strict=True):
            item, out = raw["Item"], done["Item"]
            if Attr.BODY not in item:
                assert out == item
                continue
            records += 1
            assert {name: out[name] for name in item} == item  # body, fmt and the rest kept as they were
            assert set(out) - set(item) == {Attr.DOC, Attr.HISTORY}
            record = records_module.record_from_item(item)  # the server's reading of the same item
            assert out[Attr.DOC]["S"] == records_module.dumps(records_module.task_document(record.task))
            assert out[Attr.HISTORY]["S"] == records_module.dumps(list(record.history))
            assert Task.model_validate_json(out[Attr.DOC]["S"]) == record.task
    assert records == 9
