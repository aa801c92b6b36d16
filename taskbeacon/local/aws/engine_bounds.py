"""Bounds on what the embedded moto engine keeps, and a query that does not read the whole table.

moto serves DynamoDB for tests, where nothing runs long. Local mode runs it for hours under a fleet
(issue 15), and three of its habits then grow without end or cost time in proportion to the table:

- every GetRecords creates a shard iterator that moto keeps for ever (one record per request);
  here the newest ``MAX_ITERATORS`` are kept, and an older one is expired as DynamoDB expires them
  after 15 minutes (``ExpiredIteratorException``, which the stream pump already handles);
- a stream keeps every record (both images) for ever; DynamoDB trims after 24 h. Here records are
  trimmed once read, keeping the last ``KEEP_READ_RECORDS`` read ones: a record nobody has read is
  never dropped, so the indexer stays in step;
- a query sorts every item of the table before it looks at any; here a query by a table's
  partition key reads that one partition, and an index query filters the items unsorted (the
  result is the same: moto sorts what matched itself);
- TransactWriteItems deep-copies every table it touches, to roll back on failure: time and memory
  in proportion to the table on every report. Here it checks every condition first and writes
  only when all hold, keeping copies of just the items it writes for the rare failure after that;
- GetRecords answers through moto's generic serializer, attribute by attribute: most of the CPU of
  a report. The records are DynamoDB JSON already; here they are written with ``json.dumps``;
- moto's server lists its package directory (a ``stat`` per service) to route every request; here
  the list is read once, and each response class's methods are listed once, not per request;
- moto parses the same few expression strings on every call, twice per UpdateItem, and deep-copies
  the update tree for its validator; here each string is parsed (or lexed) once and every call gets
  a fresh copy (``moto_expressions``);
- moto answers the item operations through the same generic serializer, walking the output shape
  member by member; here their results, DynamoDB JSON already, are written with ``json.dumps``
  (``moto_json_answers``); and it reads every attribute value of a request through the same kind
  of walk, here through a function that knows an attribute value's ten members
  (``moto_attribute_values``);
- moto's server answers each request in its own thread and its tables are not thread-safe (a
  copy taken during another write fails with "dictionary changed size during iteration"); here
  one DynamoDB or Streams request runs at a time, as every one is CPU in one interpreter anyway.

``install()`` patches moto's classes once per process; it does nothing at import time. moto's own
request recorder is off unless ``MOTO_ENABLE_RECORDING`` is set; ``install()`` turns it off anyway.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
from collections import OrderedDict
from typing import Any

from taskbeacon.local.aws import (
    moto_attribute_values,
    moto_expressions,
    moto_json_answers,
    moto_transactions,
)

MAX_ITERATORS = 1000
KEEP_READ_RECORDS = 1000

_installed: set[str] = set()  # "moto" once patched
_install_lock = threading.Lock()
_partition = threading.local()  # the partition a table query reads, while that query runs


class _BoundedIterators(OrderedDict[str, Any]):
    """moto's ``shard_iterators``: the newest ``MAX_ITERATORS``, an evicted one answered as expired."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > MAX_ITERATORS:
            self.popitem(last=False)

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)
        except KeyError:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError(
                "ExpiredIteratorException",
                "Iterator expired. The iterator was created more than 15 minutes ago.",
            ) from None


def install() -> None:
    """Patch moto (idempotent). Behaviour seen through the API is unchanged but for expiry and trim."""
    with _install_lock:
        if _installed:
            return
        _bound_iterators()
        _trim_streams()
        _query_one_partition()
        moto_transactions.install()
        moto_expressions.install()
        moto_json_answers.install()
        moto_attribute_values.install()
        _one_request_at_a_time()
        _records_as_json()
        _recorder_off()
        _modules_listed_once()
        _method_names_once()
        _installed.add("moto")


def _bound_iterators() -> None:
    from moto.dynamodbstreams import models

    original = models.DynamoDBStreamsBackend.__init__

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original(self, region_name, account_id)
        self.shard_iterators = _BoundedIterators()

    models.DynamoDBStreamsBackend.__init__ = __init__  # type: ignore[method-assign]
    for account in list(models.dynamodbstreams_backends.values()):  # backends made before install
        for backend in list(account.values()):
            backend.shard_iterators = _BoundedIterators(backend.shard_iterators)


def _trim_streams() -> None:
    from moto.dynamodb.models.table import StreamShard

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        # A position already trimmed reads from the oldest record kept.
        offset = max(start - self.starting_sequence_number, 0)
        records = [record.to_json() for record in self.items[offset : offset + quantity]]
        read_to = offset + len(records)
        drop = read_to - KEEP_READ_RECORDS
        if drop > KEEP_READ_RECORDS:  # trim in steps, not on every read
            del self.items[:drop]
            self.starting_sequence_number += drop  # sequence numbers stay what they were
        return records

    StreamShard.get = get  # type: ignore[method-assign]


def _query_one_partition() -> None:
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items

    def partition_items(table: Any) -> Any:
        if id(getattr(_partition, "table", None)) != id(table):
            return all_items(table)
        wanted = getattr(_partition, "key", None)
        if wanted is None:  # an index query: it filters, then sorts what matched itself
            return [item for partition in table.items.values() for item in _items_of(table, partition)]
        items: Any = table.items.get(wanted[0])
        return [] if items is None else _items_of(table, items)

    def one_partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_partition, "table", None) is not None:
            return query(self, hash_key, *args, **kwargs)
        index = kwargs.get("index_name")
        _partition.key, _partition.table = (None if index or hash_key is None else (hash_key,)), self
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = _partition.table = None

    Table.all_items = partition_items  # type: ignore[method-assign, assignment]
    Table.query = one_partition_query  # type: ignore[method-assign]


def _one_request_at_a_time() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    turn = threading.RLock()
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        call_action = handler.call_action

        def serialized(self: Any, _call: Any = call_action) -> Any:
            with turn:
                return _call(self)

        handler.call_action = serialized  # type: ignore[method-assign]


def _records_as_json() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        return json.dumps(result, default=_epoch_seconds)

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign, assignment]


def _epoch_seconds(value: object) -> float | str:
    """A timestamp as the JSON protocol carries it: seconds since the epoch (moto's are naive UTC);
    a binary value (the compressed task record's body) as base64 text, as DynamoDB's JSON carries B."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _items_of(table: Any, partition: Any) -> list[Any]:
    """A partition's items: a dict by range key, or the one item of a table without one."""
    return list(partition.values()) if table.range_key_attr else [partition]


def _modules_listed_once() -> None:
    """moto's server finds the backend of every request by listing its package directory (a
    ``stat`` per service, about 200, under the dispatcher's one lock): list it once."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _method_names_once() -> None:
    """moto lists a response class's methods (``inspect.getmembers``) on every request: once per class."""
    from moto.core import responses

    listed: dict[object, list[str]] = {}
    method_names = responses.method_names_from_class

    def once(clazz: object) -> list[str]:
        if clazz not in listed:
            listed[clazz] = method_names(clazz)
        return listed[clazz]

    responses.method_names_from_class = once


def _recorder_off() -> None:
    from moto.moto_api import recorder

    recorder._user_enabled = False


def kept(table_name: str | None = None) -> dict[str, int]:
    """What the engine holds that grows with requests: shard iterators and stream records (for tests)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    iterators = sum(
        1
        for account in dynamodbstreams_backends.values()
        for backend in account.values()
        for iterator in list(backend.shard_iterators.values())
        if table_name in (None, iterator.stream_shard.table.name)
    )
    records = sum(
        len(table.stream_shard.items)
        for account in dynamodb_backends.values()
        for backend in account.values()
        for table in backend.tables.values()
        if table.stream_shard is not None and table_name in (None, table.name)
    )
    return {"shardIterators": iterators, "streamRecords": records}
