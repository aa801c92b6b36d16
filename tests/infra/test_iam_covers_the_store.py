"""Each function's role grants exactly the DynamoDB actions its calls need, and nothing more.

The calls each function makes are written down once, in `infra.functions.DYNAMODB_CALLS` (the
write path is being rebuilt, so the store's code is not run here). This file checks:
- every declared call is a real DynamoDB operation, and every DynamoDB call in `lambdas/` is
  declared for some function (a new call without a grant fails here, not in AWS);
- each synthesized role holds exactly the IAM actions that authorize its declared calls (equality:
  no missing grant, no extra one);
- the least-privilege shape: query only reads, only the indexer batch-writes, only
  the indexer deletes and reads the stream, the sweep's planner never touches the table, and nobody
  scans.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest
from infra_synth import Synth

from infra.functions import DYNAMODB_CALLS, SPECS, STREAM_READ_ACTIONS, iam_actions
from infra.paths import LAMBDAS_DIR

pytestmark = pytest.mark.cdk

_MODEL = botocore.session.get_session().get_service_model("dynamodb")
OPERATIONS = set(_MODEL.operation_names)
_SNAKE = {botocore.xform_name(name): name for name in OPERATIONS}
_TABLE_READS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}


def _role_actions(synth: Synth) -> dict[str, set[str]]:
    """handler -> every dynamodb:* action in the inline policies of its role."""
    roles = {
        fn["Properties"]["Role"]["Fn::GetAtt"][0]: fn["Properties"]["Handler"]
        for fn in synth.resources("AWS::Lambda::Function").values()
    }
    actions: dict[str, set[str]] = {handler: set() for handler in roles.values()}
    for policy in synth.resources("AWS::IAM::Policy").values():
        for ref in policy["Properties"]["Roles"]:
            if ref["Ref"] not in roles:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                listed = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                actions[roles[ref["Ref"]]].update(a for a in listed if a.startswith("dynamodb:"))
    return actions


def test_declared_calls_are_dynamodb_operations() -> None:
    assert {spec.key for spec in SPECS} == set(DYNAMODB_CALLS)
    for function, calls in DYNAMODB_CALLS.items():
        assert set(calls) <= OPERATIONS, (function, set(calls) - OPERATIONS)
        assert "Scan" not in calls and "ExecuteStatement" not in calls


def test_every_dynamodb_call_in_the_lambdas_is_declared() -> None:
    """A coarse static check: `client.<operation>(` anywhere in the server code must be declared."""
    declared = {call for calls in DYNAMODB_CALLS.values() for call in calls}
    found: dict[str, str] = {}
    for path in LAMBDAS_DIR.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for match in re.finditer(r"\bclient\.([a-z_]+)\(", path.read_text(encoding="utf-8")):
            if match.group(1) in _SNAKE:
                found[_SNAKE[match.group(1)]] = str(path.relative_to(LAMBDAS_DIR))
    assert found, "no DynamoDB client call found: the scan no longer sees the store"
    assert set(found) <= declared, {op: where for op, where in found.items() if op not in declared}


def test_transactions_are_authorized_by_their_items() -> None:
    # TransactWriteItems is no IAM action (cfn-lint W3037): its Put and Update items are.
    assert iam_actions(("TransactWriteItems",)) == ("dynamodb:PutItem", "dynamodb:UpdateItem")
    assert iam_actions(("GetItem", "BatchWriteItem")) == ("dynamodb:BatchWriteItem", "dynamodb:GetItem")


def test_each_role_grants_exactly_its_calls(any_synth: Synth) -> None:
    granted = _role_actions(any_synth)
    for spec in SPECS:
        expected = set(spec.actions)
        assert expected == (set(iam_actions(DYNAMODB_CALLS[spec.key])) if spec.table else set())
        if spec.key == "indexer":
            expected |= set(STREAM_READ_ACTIONS)
        assert granted[spec.handler] == expected, (spec.key, granted[spec.handler] ^ expected)


def test_least_privilege_shape(any_synth: Synth) -> None:
    granted = _role_actions(any_synth)
    ingest, events, query = (granted[f"handlers.{n}.handler"] for n in ("ingest", "events", "query"))
    indexer, reconciler = granted["handlers.indexer.handler"], granted["handlers.reconciler.handler"]
    # The request path writes only its own task's items: no batch writes, no deletes, no stream.
    for writer in (ingest, events):
        assert writer == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert query == _TABLE_READS
    assert indexer == {
        *_TABLE_READS,
        "dynamodb:BatchWriteItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        *STREAM_READ_ACTIONS,
    }
    # Lease renewal: the live partition's Queries and one conditional UpdateItem of a record.
    assert reconciler == {"dynamodb:Query", "dynamodb:UpdateItem"}
    # The sweep's worker writes a task's own items like events (and batch-reads a page of described
    # tasks); its planner only queues work.
    assert granted["handlers.sweeper.work_handler"] == {
        *_TABLE_READS,
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert granted["handlers.sweeper.plan_handler"] == set()
    everything: set[Any] = set().union(*granted.values())
    assert not {a for a in everything if re.search(r"Scan|Table|PartiQL|\*", a)}
