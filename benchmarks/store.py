"""DynamoDB items read per query page and items written per snapshot, on moto in memory.

Counts are exact (from ScannedCount and the transaction sizes), independent of the machine.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLEET = 60
PAGE = 100


def run() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto's fake credentials)
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    import boto3
    from moto import mock_aws

    from core.logic.query import QueryService
    from core.model import Observation
    from core.store.reader import Reader
    from core.store.schema import create_table_request
    from core.store.writer import Store
    from tests.store.builders import task

    t0 = datetime(2026, 11, 28, 9, tzinfo=UTC)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request("bench"))
        store = Store("bench", retention_days=30, history_limit=50, client=client)
        first, keepalive, stop = [], [], []
        for number in range(1, FLEET + 1):
            cluster = ("prod", "dev", "batch")[number % 3]
            t = task(
                number,
                cluster=cluster,
                ip=f"10.{number // 250}.{number % 250}.1",
                tags={"team": f"t{number % 7}"},
            )
            at = t0 + timedelta(seconds=number)
            first.append(
                store.apply(Observation(task=t, source="tmde-v4", observed_at=at, reporter="a")).write_items
            )
            keepalive.append(
                store.apply(
                    Observation(
                        task=t, source="tmde-v4", observed_at=at + timedelta(minutes=15), reporter="a"
                    )
                ).write_items
            )
            if number % 10 == 0:
                stopped = t.model_copy(update={"last_status": "STOPPED"})
                observed = at + timedelta(minutes=30)
                stop.append(
                    store.apply(
                        Observation(task=stopped, source="tmde-v4", observed_at=observed, reporter="a")
                    ).write_items
                )
        query = QueryService(Reader("bench", client=client), keepalive_seconds=900, history_limit=50)
        pages = [
            ("list_all", lambda c: query.list_tasks({}, since=None, limit=PAGE, cursor=c)),
            (
                "list_cluster",
                lambda c: query.list_tasks({"cluster": "prod"}, since=None, limit=PAGE, cursor=c),
            ),
            (
                "list_cluster_running",
                lambda c: query.list_tasks(
                    {"cluster": "prod", "status": "RUNNING"}, since=None, limit=PAGE, cursor=c
                ),
            ),
            (
                "search_tag",
                lambda c: query.search("tag", "team=t3", status=None, at=None, limit=PAGE, cursor=c),
            ),
        ]
        results: dict[str, object] = {
            "fleet_size": FLEET,
            "first_report_write_items": round(sum(first) / len(first), 1),
            "keepalive_write_items": round(sum(keepalive) / len(keepalive), 2),
            "stop_write_items": round(sum(stop) / len(stop), 1),
        }
        for name, fetch in pages:
            page = fetch(None)
            results[f"{name}_items_read_per_item_returned"] = round(
                page.items_read / max(1, len(page.items)), 2
            )
            results[f"{name}_items_read_per_item_returned_note"] = (
                f"page size {PAGE}; 2.0 = one index entry + one record each"
            )
        summary_reads = len(query.summary("cluster")["groups"])
        results["summary_items_read"] = summary_reads
        results["summary_items_read_note"] = f"one counter per group, for {FLEET} tasks"
        return results
