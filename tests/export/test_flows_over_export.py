"""The task behind every flow: the committed ip_intervals view and flow-log queries agree with the API.

A fleet whose addresses are reused, held from before taskbeacon saw them, claimed only by the task,
shared by two containers, IPv6, never started and long expired is written through the project's own
request path and indexer (``Inventory.apply``), exported as DynamoDB writes it (export_files.py)
and inflated (``taskbeacon export inflate``), and flow-log records in the default format (version 2)
and with the version 7 ECS fields are written as a flow log delivers them to S3 (flow_log_files.py).
The committed SQL then runs in DuckDB (athena_local.py), and each end of each record must name
exactly the tasks that GET /search?ip=<address> says held it at some moment of the record's
[start, end] (QueryService.search, with and without ``at``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.model import Container, Network, Observation, Task
from tests.engines import engine_table
from tests.export import athena_local
from tests.export.export_files import inflated, write_export
from tests.export.flow_log_files import Flow, log_format, no_data, write_flow_logs
from tests.store.builders import task
from tests.store.inventory import Inventory, all_items

H = timedelta(hours=1)
# Relative to the wall clock, as in test_athena_over_export: the API hides expired tasks by its
# clock and the queries by the real time, so the API's clock is pinned to the same hour.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
S = NOW - timedelta(days=2)  # task 1 stops and task 2 starts on the same address at S
# Past its record's expiry: max(stop + 30 days retention, first lease = first sight + 30 + 14 days).
EXPIRED_STOP = NOW - timedelta(days=50)
# The first midnight after S: a record just before it is delivered into the next day's folder.
MIDNIGHT = datetime(S.year, S.month, S.day, tzinfo=UTC) + timedelta(days=1)

REUSED = "10.0.5.1"  # task 7 (long expired), then task 1 until S, then task 2 from S
DEV = "10.0.6.7"  # task 3, started S - 5 h, first seen S - 1 h
SHARED = "10.0.7.7"  # task 4 (another account): both its containers list it
IPV6 = "2600:1f18:abcd:1200::7"  # task 4's second container
CLAIMED, STATED = "10.0.8.8", "10.0.8.9"  # task 5 says the first, AWS the second
PENDING_IP = "10.0.9.1"  # task 6: never started
OUTSIDE = "203.0.113.9"  # no task ever held it
OTHER_ACCOUNT = "444455556666"


def _s(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _agent(t: Task, at: datetime) -> tuple[Observation, datetime]:
    return Observation(task=t, source="tmde-v4", observed_at=at, reporter="agent-1", reason="start"), at


def _event(t: Task, at: datetime, version: int) -> tuple[Observation, datetime]:
    observation = Observation(
        task=t, source="event", observed_at=at, reporter="eventbridge", event_version=version
    )
    return observation, at


def _stopped(t: Task, at: datetime) -> Task:
    return t.model_copy(update={"last_status": "STOPPED", "stopped_at": at, "stopped_reason": "Scaling"})


def _fleet() -> tuple[list[tuple[Observation, datetime]], dict[str, str]]:
    t1 = task(1, ip=REUSED).model_copy(update={"started_at": S - 2 * H})
    t2 = task(2, ip=REUSED).model_copy(update={"started_at": S})
    t3 = task(3, ip=DEV, cluster="dev").model_copy(update={"started_at": S - 5 * H, "service_name": "api"})
    t4 = task(4, ip=SHARED)
    sidecar = Container(
        name="envoy",
        image="envoyproxy/envoy:v1.31",
        networks=[Network(network_mode="awsvpc", ipv4_addresses=[SHARED], ipv6_addresses=[IPV6])],
    )
    t4 = t4.model_copy(
        update={
            "task_arn": t4.task_arn.replace("111122223333", OTHER_ACCOUNT),
            "account_id": OTHER_ACCOUNT,
            "cluster_arn": (t4.cluster_arn or "").replace("111122223333", OTHER_ACCOUNT),
            "service_name": None,  # a standalone task
            "started_at": S - 3 * H,
            "containers": [*t4.containers, sidecar],
        }
    )
    t5_claim = task(5, ip=CLAIMED).model_copy(update={"started_at": S - H})
    t5_aws = task(5, ip=STATED).model_copy(update={"started_at": S - H})
    t6 = task(6, ip=PENDING_IP, status="PENDING")
    t7 = task(7, ip=REUSED).model_copy(update={"started_at": EXPIRED_STOP - H})
    plays = [
        _agent(t1, S - 2 * H),
        _event(_stopped(t1, S), S, 9),
        _agent(t2, S),
        _agent(t3, S - H),  # ran for 4 hours before taskbeacon saw it
        _agent(t4, S - 3 * H),
        _agent(t5_claim, S - H),
        _event(t5_aws, S - H + timedelta(seconds=5), 2),
        _agent(t6, S + 2 * H),
        _agent(t7, EXPIRED_STOP - H),
        _event(_stopped(t7, EXPIRED_STOP), EXPIRED_STOP, 9),
    ]
    arns = {
        name: t.task_arn
        for name, t in zip(
            ("t1", "t2", "t3", "t4", "t5", "t6", "t7"), (t1, t2, t3, t4, t5_aws, t6, t7), strict=True
        )
    }
    return plays, arns


@dataclass(frozen=True)
class Case:
    """A record, and the tasks it must name at each end (by fleet name; '' for none)."""

    flow: Flow
    src: frozenset[str]
    dst: frozenset[str]
    check: str | None = None  # v7: the expected ecs_task_arn_check


def _case(flow: Flow, src: str = "", dst: str = "", check: str | None = None) -> Case:
    return Case(flow, frozenset(src.split()), frozenset(dst.split()), check)


def _v7(direction: str, task_arn: str | None) -> dict[str, str]:
    if task_arn is None:
        return {"flow-direction": direction}
    cluster = task_arn.split("/")[1]
    return {
        "flow-direction": direction,
        "ecs-task-arn": task_arn,
        "ecs-task-id": task_arn.rsplit("/", 1)[1],
        "ecs-cluster-name": cluster,
        "ecs-cluster-arn": task_arn.split(":task/")[0] + f":cluster/{cluster}",
        "ecs-service-name": "web",
        "ecs-container-id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
    }


def _cases(arns: dict[str, str]) -> list[Case]:
    return [
        # t2 (egress) to t3; v7 names the interface's task, t2: agrees.
        _case(
            Flow(REUSED, DEV, _s(S + H), _s(S + H) + 10, extra=_v7("egress", arns["t2"])), "t2", "t3", "agree"
        ),
        # The same conversation seen on t3's interface (ingress), v7 naming t3.
        _case(
            Flow(
                REUSED,
                DEV,
                _s(S + H),
                _s(S + H) + 10,
                interface_id="eni-0dev",
                extra=_v7("ingress", arns["t3"]),
            ),
            "t2",
            "t3",
            "agree",
        ),
        # Exactly at S: t1 stops and t2 starts on the address; both held it then (as the API says).
        _case(Flow(REUSED, OUTSIDE, _s(S), _s(S), extra=_v7("egress", arns["t2"])), "t1 t2", "", "agree"),
        # The second before S: t1 only. v7 names t2 (wrong task): flagged.
        _case(
            Flow(REUSED, OUTSIDE, _s(S) - 30, _s(S) - 1, extra=_v7("egress", arns["t2"])),
            "t1",
            "",
            "disagree",
        ),
        # The second after S: t2 only.
        _case(
            Flow(REUSED, OUTSIDE, _s(S) + 1, _s(S) + 30, extra=_v7("egress", arns["t2"])), "t2", "", "agree"
        ),
        # A window spanning S: the address changed hands inside it, both are listed.
        _case(
            Flow(REUSED, OUTSIDE, _s(S) - 10, _s(S) + 10, extra=_v7("egress", arns["t1"])),
            "t1 t2",
            "",
            "agree",
        ),
        # From the internet to t3 at its own start (before taskbeacon first saw it): held from start.
        _case(
            Flow(OUTSIDE, DEV, _s(S - 5 * H), _s(S - 5 * H), extra=_v7("ingress", arns["t3"])),
            "",
            "t3",
            "agree",
        ),
        # One second before t3 started: no task; v7 still names t3 (best effort): not held.
        _case(
            Flow(OUTSIDE, DEV, _s(S - 5 * H) - 1, _s(S - 5 * H) - 1, extra=_v7("ingress", arns["t3"])),
            "",
            "",
            "not-held",
        ),
        # An address no task held, and a record without ECS fields.
        _case(Flow(OUTSIDE, "198.51.100.4", _s(S + H), _s(S + H) + 5, extra=_v7("ingress", None)), "", ""),
        # The address the task only claimed (unconfirmed) and the one AWS stated.
        _case(Flow(CLAIMED, STATED, _s(S), _s(S) + 20, extra=_v7("egress", arns["t5"])), "t5", "t5", "agree"),
        # IPv6, and the address two containers of one task both list, in another account.
        _case(Flow(IPV6, SHARED, _s(S), _s(S) + 20, extra=_v7("-", arns["t4"])), "t4", "t4", "agree"),
        # A task never started is held from first sight.
        _case(
            Flow(OUTSIDE, PENDING_IP, _s(S + 2 * H) + 60, _s(S + 2 * H) + 90, extra=_v7("ingress", None)),
            "",
            "t6",
        ),
        # Long ago, the expired t7 held the reused address: the API no longer shows it.
        _case(Flow(REUSED, OUTSIDE, _s(EXPIRED_STOP - 0.5 * H), _s(EXPIRED_STOP - 0.5 * H) + 5), "", ""),
        # Just before midnight: delivered into the next day's folder.
        _case(
            Flow(OUTSIDE, DEV, _s(MIDNIGHT) - 20, _s(MIDNIGHT) - 5, extra=_v7("ingress", arns["t3"])),
            "",
            "t3",
            "agree",
        ),
        # No traffic on the interface in that window.
        _case(no_data(_s(S + 3 * H), _s(S + 3 * H) + 60), "", ""),
    ]


@dataclass
class World:
    inventory: Inventory
    arns: dict[str, str]
    cases: list[Case]
    athena: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    plays, arns = _fleet()
    cases = _cases(arns)
    with engine_table("moto") as table:
        inventory = Inventory(table.client, retention_days=30, now=NOW)
        for observation, at in sorted(plays, key=lambda play: play[1]):
            inventory.apply(observation, now=at)
        root = tmp_path_factory.mktemp("s3")
        export = write_export(all_items(table.client), root, export_time=NOW)
        readable = inflated(export, root / "inflated" / export.export_id)  # docs/export.md: before the SQL
        con = athena_local.connect(readable.data)
        flows = [case.flow for case in cases]
        v2 = write_flow_logs(flows, root / "flows-v2", fields=log_format("flow_logs_v2_table.sql"))
        v7 = write_flow_logs(flows, root / "flows-v7", fields=log_format("flow_logs_v7_table.sql"))
        athena_local.attach_flow_logs(con, "flow_logs_v2_table.sql", v2)
        athena_local.attach_flow_logs(con, "flow_logs_v7_table.sql", v7)
        yield World(inventory, arns, cases, con)
        con.close()


def _held(inventory: Inventory, address: str, at: datetime | None = None) -> list[dict[str, Any]]:
    """Every answer of GET /search?ip=<address>[&at=], all pages."""
    if address == "-":
        return []
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = inventory.query.search("ip", address, status=None, at=at, limit=2, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def _api_names(inventory: Inventory, address: str, start: int, end: int) -> set[str]:
    """The tasks the API says held ``address`` at some moment of [start, end] (epoch seconds)."""
    low, high = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    overlapping = {
        item["task"]["taskArn"]
        for item in _held(inventory, address)
        if _at(item["heldFrom"]) <= high and (item["heldUntil"] is None or _at(item["heldUntil"]) >= low)
    }
    # Asked at the window's two ends, the API names no one the overlap misses.
    at_ends = {item["task"]["taskArn"] for t in (low, high) for item in _held(inventory, address, t)}
    assert at_ends <= overlapping
    if start == end:
        assert at_ends == overlapping
    return overlapping


ALL_TIME = (_iso(EXPIRED_STOP - timedelta(days=2)), _iso(NOW))


def _by_record(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (
            _s(row["flow_start"]),
            _s(row["flow_end"]),
            row["interface_id"],
            row["srcaddr"],
            row["dstaddr"],
        )
        grouped[key].append(row)
    return grouped


def _key(flow: Flow) -> tuple[Any, ...]:
    return (flow.start, flow.end, flow.interface_id, flow.srcaddr, flow.dstaddr)


# -- the committed files ----------------------------------------------------------------------------


@pytest.mark.parametrize("ddl", ["flow_logs_v2_table.sql", "flow_logs_v7_table.sql"])
def test_the_flow_log_ddl_reads_the_text_files_a_flow_log_delivers(ddl: str) -> None:
    properties = athena_local.table_properties(ddl)
    assert properties["external"] == "yes"
    assert properties["fields_terminated_by"] == " " and properties["skip.header.line.count"] == "1"
    assert properties["location"].startswith("s3://") and "/AWSLogs/" in properties["location"]
    assert properties["location"].endswith("/vpcflowlogs/us-east-1/")
    assert properties["projection.day.format"] == "yyyy/MM/dd"
    # The columns are the log format's fields, in its order.
    columns = list(athena_local.table_columns(ddl))
    assert columns == [field.replace("-", "_") for field in log_format(ddl)]
    assert "https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html" in athena_local.text(ddl)


def test_the_v2_table_is_the_default_format_and_v7_adds_the_ecs_fields() -> None:
    default = [
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
    ]
    assert log_format("flow_logs_v2_table.sql") == default
    v7 = log_format("flow_logs_v7_table.sql")
    assert v7[:14] == default
    ecs = {
        "ecs-cluster-arn",
        "ecs-cluster-name",
        "ecs-container-instance-arn",
        "ecs-container-instance-id",
        "ecs-container-id",
        "ecs-second-container-id",
        "ecs-service-name",
        "ecs-task-definition-arn",
        "ecs-task-arn",
        "ecs-task-id",
    }
    assert set(v7[14:]) == ecs | {"flow-direction"}


# -- the ip_intervals view --------------------------------------------------------------------------


def test_ip_intervals_are_what_search_by_ip_answers(world: World) -> None:
    rows = athena_local.rows(
        world.athena,
        "SELECT * FROM taskbeacon_ip_intervals "
        "WHERE expires_at IS NULL OR expires_at > epoch(current_timestamp)",
    )
    by_ip: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for row in rows:
        by_ip[row["ip"]].add(
            (
                row["task_arn"],
                row["held_from"],
                row["held_to"],
                row["confirmed"],
                row["account_id"],
                row["cluster_name"],
                row["service_name"],
            )
        )
    assert len(rows) == sum(len(held) for held in by_ip.values())  # each address once per task
    addresses = {REUSED, DEV, SHARED, IPV6, CLAIMED, STATED, PENDING_IP, OUTSIDE}
    assert set(by_ip) == addresses - {OUTSIDE}
    for address in sorted(addresses):
        api = {
            (
                item["task"]["taskArn"],
                _at(item["heldFrom"]),
                _at(item["heldUntil"]) if item["heldUntil"] else None,
                item["confirmed"],
                item["task"]["accountId"],
                item["task"]["clusterName"],
                item["task"]["serviceName"],
            )
            for item in _held(world.inventory, address)
        }
        assert by_ip.get(address, set()) == api, address
    assert len(rows) == 8


def test_ip_intervals_hold_from_the_tasks_own_start_to_its_stop(world: World) -> None:
    rows = athena_local.rows(world.athena, "SELECT * FROM taskbeacon_ip_intervals")
    held = {(row["ip"], row["task_arn"]): (row["held_from"], row["held_to"]) for row in rows}
    arns = world.arns
    assert held[(REUSED, arns["t1"])] == (S - 2 * H, S)
    assert held[(REUSED, arns["t2"])] == (S, None)
    assert held[(DEV, arns["t3"])] == (S - 5 * H, None)  # not from first sight (S - 1 h)
    assert held[(PENDING_IP, arns["t6"])] == (S + 2 * H, None)  # never started: from first sight
    assert held[(REUSED, arns["t7"])] == (EXPIRED_STOP - H, EXPIRED_STOP)  # in the export, expired
    confirmed = {(row["ip"], row["confirmed"]) for row in rows if row["task_arn"] == arns["t5"]}
    assert confirmed == {(CLAIMED, False), (STATED, True)}


# -- the flow queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["queries/flow_tasks_v2.sql", "queries/flow_tasks_v7.sql"])
def test_each_end_of_each_record_names_what_the_api_answers(world: World, query: str) -> None:
    grouped = _by_record(athena_local.run(world.athena, query, *ALL_TIME))
    assert len(grouped) == len(world.cases)  # every record, once (NODATA and unmatched ones too)
    names = {arn: name for name, arn in world.arns.items()}
    for case in world.cases:
        flow = case.flow
        rows = grouped[_key(flow)]
        src = {row["src_task_arn"] for row in rows} - {None}
        dst = {row["dst_task_arn"] for row in rows} - {None}
        assert src == _api_names(world.inventory, flow.srcaddr, flow.start, flow.end), flow
        assert dst == _api_names(world.inventory, flow.dstaddr, flow.start, flow.end), flow
        # The answer itself, not only agreement with the API.
        assert {names[arn] for arn in src} == case.src and {names[arn] for arn in dst} == case.dst, flow
        assert len(rows) == max(1, len(src)) * max(1, len(dst))  # one row per pair of holders


def test_records_name_the_tasks_account_cluster_service_and_interval(world: World) -> None:
    rows = athena_local.run(world.athena, "queries/flow_tasks_v2.sql", *ALL_TIME)
    ipv6 = [row for row in rows if row["srcaddr"] == IPV6]
    assert len(ipv6) == 1
    (row,) = ipv6
    assert (row["src_account_id"], row["src_cluster_name"], row["src_service_name"]) == (
        OTHER_ACCOUNT,
        "prod",
        None,
    )
    assert row["src_held_from"] == S - 3 * H and row["src_held_to"] is None and row["src_confirmed"] is False
    at_s = [
        row
        for row in rows
        if row["srcaddr"] == REUSED and _s(row["flow_start"]) == _s(S) and row["flow_end"] == S
    ]
    assert sorted((row["src_held_from"], row["src_held_to"]) for row in at_s) == [(S - 2 * H, S), (S, None)]
    claimed = [row for row in rows if row["srcaddr"] == CLAIMED]
    assert [(row["src_confirmed"], row["dst_confirmed"]) for row in claimed] == [(False, True)]
    nodata = [row for row in rows if row["log_status"] == "NODATA"]
    assert len(nodata) == 1 and nodata[0]["srcport"] is None and nodata[0]["src_task_arn"] is None


def test_v7_records_show_their_own_task_arn_and_flag_disagreement(world: World) -> None:
    grouped = _by_record(athena_local.run(world.athena, "queries/flow_tasks_v7.sql", *ALL_TIME))
    checks: dict[str | None, int] = defaultdict(int)
    for case in world.cases:
        rows = grouped[_key(case.flow)]
        stated = (case.flow.extra or {}).get("ecs-task-arn")
        assert {row["ecs_task_arn"] for row in rows} == {stated}
        # One verdict per record, on each of its rows (two when the address changed hands).
        assert [row["ecs_task_arn_check"] for row in rows] == [case.check] * len(rows), case.flow
        checks[case.check] += 1
    assert checks == {"agree": 9, "disagree": 1, "not-held": 1, None: 4}


def test_a_window_reads_only_the_records_that_started_in_it_across_day_folders(world: World) -> None:
    late = next(case.flow for case in world.cases if case.flow.start == _s(MIDNIGHT) - 20)
    folder_day = (MIDNIGHT).strftime("%Y/%m/%d")  # delivered after midnight, into the next day
    days = {row[0] for row in world.athena.execute("SELECT DISTINCT day FROM vpc_flow_logs_v2").fetchall()}
    assert folder_day in days
    for query in ("queries/flow_tasks_v2.sql", "queries/flow_tasks_v7.sql"):
        rows = athena_local.run(
            world.athena, query, _iso(MIDNIGHT - timedelta(minutes=1)), _iso(MIDNIGHT - timedelta(seconds=1))
        )
        assert [(_s(row["flow_start"]), row["dst_task_arn"]) for row in rows] == [
            (late.start, world.arns["t3"])
        ]
