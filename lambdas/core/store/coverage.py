"""Coverage items: per account and region, when the sweep last read it and when it last sent an event.

One item per account and region, ``pk = COVERAGE``, ``sk = <account>#<region>``, so `GET /coverage`
is one Query of one partition. Writers are few and slow by design, so that partition never runs hot:
- the sweep sets ``lastSweptAt`` and its summary once per account-region per sweep (every 12 h);
- the indexer sets ``lastEventAt`` at most once per account-region every ``EVENT_MARK_SECONDS``
  (it reads the item first and writes only when the stored mark is older).
How many tasks each source knows is counted on read from the live partition (core.logic.summaries).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from core.model.time import timestamp
from core.store import dynamo
from core.store.schema import PARTITION_KEY, SORT_KEY

COVERAGE_PK: Final = "COVERAGE"
# A mark of "events arrive from here" needs minutes, not milliseconds, of precision.
EVENT_MARK_SECONDS: Final = 300
_SWEPT: Final = "lastSweptAt"
_SWEEP: Final = "sweep"
_EVENT: Final = "lastEventAt"


@dataclass(frozen=True)
class Coverage:
    account_id: str
    region: str
    last_swept_at: str | None = None
    last_event_at: str | None = None
    sweep: dict[str, Any] = field(default_factory=dict)


def coverage_key(account_id: str, region: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": COVERAGE_PK}, SORT_KEY: {"S": f"{account_id}#{region}"}}


class CoverageStore(dynamo.TableAccess):
    def record_sweep(self, account_id: str, region: str, swept_at: datetime, summary: dict[str, Any]) -> None:
        """The sweep of one account-region finished: when, and what it found (one small write)."""
        with dynamo.translated_errors():
            self.client.update_item(
                TableName=self.table_name,
                Key=coverage_key(account_id, region),
                UpdateExpression="SET #swept = :swept, #sweep = :sweep",
                ExpressionAttributeNames={"#swept": _SWEPT, "#sweep": _SWEEP},
                ExpressionAttributeValues={
                    ":swept": {"S": timestamp(swept_at)},
                    ":sweep": {"S": json.dumps(summary, sort_keys=True, default=str)},
                },
            )

    def mark_events(self, latest: dict[tuple[str, str], datetime]) -> int:
        """Move ``lastEventAt`` forward where it is older than EVENT_MARK_SECONDS; returns the writes."""
        if not latest:
            return 0
        stored = self._event_marks(list(latest))
        writes = 0
        for (account_id, region), at in latest.items():
            mark = stored.get((account_id, region))
            if mark is not None and (at - mark).total_seconds() < EVENT_MARK_SECONDS:
                continue
            from botocore.exceptions import ClientError

            try:
                with dynamo.translated_errors():
                    self.client.update_item(
                        TableName=self.table_name,
                        Key=coverage_key(account_id, region),
                        UpdateExpression="SET #event = :at",
                        ConditionExpression="attribute_not_exists(#event) OR #event < :at",
                        ExpressionAttributeNames={"#event": _EVENT},
                        ExpressionAttributeValues={":at": {"S": timestamp(at)}},
                    )
                writes += 1
            except ClientError as error:  # a newer mark landed meanwhile: nothing to do
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        return writes

    def _event_marks(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
        marks: dict[tuple[str, str], datetime] = {}
        for start in range(0, len(wanted), 100):  # BatchGetItem takes 100 keys
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [coverage_key(a, r) for a, r in wanted[start : start + 100]],
                    "ProjectionExpression": "#sk, #event",
                    "ExpressionAttributeNames": {"#sk": SORT_KEY, "#event": _EVENT},
                }
            }
            while request:
                with dynamo.translated_errors():
                    response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    if _EVENT in item:
                        account_id, region = item[SORT_KEY]["S"].split("#", 1)
                        marks[(account_id, region)] = datetime.fromisoformat(item[_EVENT]["S"])
                request = response.get("UnprocessedKeys") or {}
        return marks

    def load_all(self) -> list[Coverage]:
        """Every account-region with a sweep or an event mark (one partition, paged)."""
        out: list[Coverage] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": COVERAGE_PK}},
        }
        while True:
            with dynamo.translated_errors():
                response = self.client.query(**request)
            for item in response.get("Items", []):
                account_id, _, region = item[SORT_KEY]["S"].partition("#")
                out.append(
                    Coverage(
                        account_id=account_id,
                        region=region,
                        last_swept_at=item.get(_SWEPT, {}).get("S"),
                        last_event_at=item.get(_EVENT, {}).get("S"),
                        sweep=json.loads(item[_SWEEP]["S"]) if _SWEEP in item else {},
                    )
                )
            if "LastEvaluatedKey" not in response:
                return out
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
