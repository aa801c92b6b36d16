"""TransactWriteItems for the embedded moto engine without a copy of every table it touches.

moto deep-copies each table a transaction names so it can roll back: time and memory in proportion
to the whole table on every report (issue 15: 3 GB for 100 demo tasks). Here every condition is
checked first (as moto does, with the same cancellation reasons) and the writes happen only when
all hold; copies of just the items written undo them, and the stream records they added, should a
write still fail (an update expression moto rejects only when it runs it).
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        plan: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
        for item in transact_items:  # check every condition before any write
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            failed: list[dict[str, Any] | None] = [None]  # the item ALL_OLD returns, when asked
            try:
                plan.append(_checked(self, op_type, op, seen, failed))
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as error:
                errors.append(("ConditionalCheckFailed", str(error.message), failed[0]))
            except Exception as error:
                errors.append((type(error).__name__, str(error), None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        _apply(self, plan)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _checked(
    backend: Any, op_type: str, op: dict[str, Any], seen: set[tuple[str, str]], failed: list[Any]
) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """One operation's key, once its condition holds (raises as moto's own check does)."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MultipleTransactionsException
    from moto.dynamodb.models import get_filter_expression

    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise ValueError("Unsupported transaction operation")
    table_name = op["TableName"]
    table = backend.get_table(table_name)
    if op_type == "Put":
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
    else:
        key = op["Key"]
    unique = (str(table_name), str(dict(sorted(key.items()))))
    if unique in seen:
        raise MultipleTransactionsException()
    seen.add(unique)
    current = backend.get_item(table_name, key)
    condition = op.get("ConditionExpression")
    if condition is not None and not get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    ).expr(current):
        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
            failed[0] = current.to_json()["Attributes"]
        raise ConditionalCheckFailed(item=failed[0])
    return op_type, op, table_name, key


def _apply(backend: Any, plan: list[tuple[str, dict[str, Any], str, dict[str, Any]]]) -> None:
    """The writes of a transaction whose conditions all held; undone if one of them fails."""
    import copy

    from moto.dynamodb.exceptions import MockValidationException, TransactionCanceledException
    from moto.dynamodb.models.dynamo_type import DynamoType

    undo: list[tuple[Any, Any, Any, Any]] = []
    streams: dict[int, tuple[Any, int]] = {}
    for _, _, table_name, key in plan:
        table = backend.get_table(table_name)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        undo.append((table, hash_value, range_value, copy.deepcopy(backend.get_item(table_name, key))))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    done = 0
    try:
        for op_type, op, table_name, key in plan:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name, key, expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Update":
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            done += 1
    except Exception as error:
        for table, hash_value, range_value, before in undo:
            _restore(table, hash_value, range_value, before)
        for shard, length in streams.values():
            del shard.items[length:]
        if isinstance(error, MockValidationException):
            raise
        reasons: list[tuple[Any, Any, Any]] = [(None, None, None)] * len(plan)
        reasons[done] = (type(error).__name__, str(error), None)
        raise TransactionCanceledException(reasons) from None


def _restore(table: Any, hash_value: Any, range_value: Any, before: Any) -> None:
    if table.range_key_attr:
        partition = table.items[hash_value]
        if before is None:
            partition.pop(range_value, None)
            if not partition:
                del table.items[hash_value]
        else:
            partition[range_value] = before
    elif before is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = before
