"""``taskbeacon export inflate``: a DynamoDB export made readable for the committed Athena SQL.

The task record keeps its document and history zlib-compressed in ``body`` (format 2); inflating adds
``doc`` and ``hist`` as ``core.store.records`` spells JSON and changes nothing else. These tests build
items with the store's own ``record_item`` (and the other kinds of item beside them), write them as a
DynamoDB export (tests/export/export_files.py), inflate, and read the result back.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.model import IndexItem, SeenState, TaskRecord
from core.model.record import task_identity
from core.store import records, schema
from core.store.schema import Attr
from taskbeacon.cli.main import main
from taskbeacon.export import inflate
from taskbeacon.export.inflate import InflateError, inflate_export
from tests.export.export_files import Export, export_item, write_export
from tests.store.builders import task

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
HISTORY = [
    {"at": "2026-11-28T08:00:00Z", "source": "tmde-v4", "reporter": "agent-1", "changes": {}},
    {
        "at": "2026-11-28T08:30:00Z",
        "source": "event",
        "reporter": "eventbridge",
        "changes": {"lastStatus": {"from": "PENDING", "to": "RUNNING"}},
    },
]


def _record(number: int, **task_options: Any) -> dict[str, Any]:
    t = task(number, **task_options)
    record = TaskRecord(
        task=t,
        snapshot_key=f"2026-11-28T08:00:0{number}Z",
        event_version=3,
        revision=2,
        lease_until=1800000000,
    )
    return records.record_item(task_identity(t), record, HISTORY[: number % 3], expires_at=None)


def _items() -> list[dict[str, Any]]:
    """Task records (one with non-ASCII text) beside a keepalive, an index entry and an item of another
    kind (with a binary value of its own)."""
    identity = task_identity(task(1))
    return [
        _record(1),
        _record(2, tags={"owner": "zoë", "note": 'a "quoted" \\ value'}, labels={"emoji": "🚀"}),
        _record(3, status="STOPPED", stopped_reason="Essential container exited"),
        records.seen_item(identity, SeenState(snapshot_key="k", content_hash="h", seen_at=NOW)),
        records.index_item(
            IndexItem(
                partition="IX#ip#10.0.0.5#0",
                sort=f"2026-11-28T08:00:00Z#{identity}",
                identity=identity,
                projection={"status": "RUNNING", "body": "not an attribute"},
                held_from="2026-11-28T08:00:00Z",
                expires_at=1800000000,
            )
        ),
        {"pk": {"S": "OTHER#prod"}, "sk": {"S": "RUNNING"}, "n": {"N": "3"}, "raw": {"B": b"\x00\x01"}},
    ]


def _export(tmp_path: Path, items: list[dict[str, Any]]) -> Export:
    return write_export(items, tmp_path / "s3", files=2, export_time=NOW)


def _lines(folder: Path) -> dict[str, list[bytes]]:
    """Each data file's decompressed lines, by file name."""
    return {
        path.name: gzip.decompress(path.read_bytes()).splitlines()
        for path in sorted((folder / "data").glob("*.json.gz"))
    }


def _by_key(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for lines in _lines(folder).values():
        for line in lines:
            item = json.loads(line)["Item"]
            found[(item["pk"]["S"], item["sk"]["S"])] = item
    return found


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def test_names_and_format_are_the_stores() -> None:
    assert inflate.FORMAT_VERSION == schema.FORMAT_VERSION
    assert (inflate.FORMAT, inflate.BODY, inflate.DOC, inflate.HISTORY) == (
        Attr.FORMAT,
        Attr.BODY,
        Attr.DOC,
        Attr.HISTORY,
    )
    assert inflate.KEY == (schema.PARTITION_KEY, schema.SORT_KEY)
    value = {"b": [1, 2.5, None, True], "a": 'zoë 🚀 "q"', "c": {"z": 1, "y": {}}}
    assert inflate.dumps(value) == records.dumps(value)


def test_each_record_gets_doc_and_hist_that_read_back_as_the_record(tmp_path: Path) -> None:
    items = _items()
    export = _export(tmp_path, items)
    report = inflate_export(export.folder, tmp_path / "out")
    assert (report.data_files, report.items, report.inflated) == (3, len(items), 3)
    out = _by_key(tmp_path / "out")
    for item in items:
        if Attr.BODY not in item:
            continue
        inflated = out[_key(item)]
        record = records.record_from_item(item)
        # Spelled as the store spelled doc and hist before the body was compressed.
        assert inflated[Attr.DOC]["S"] == records.dumps(records.task_document(record.task))
        assert inflated[Attr.HISTORY]["S"] == records.dumps(list(record.history))
        # Every attribute the export had is still there, as it was; the server still reads the item.
        assert {name: inflated[name] for name in item} == export_item(item)
        assert set(inflated) - set(item) == {Attr.DOC, Attr.HISTORY}
        assert records.record_from_item(inflated) == record
        assert json.loads(inflated[Attr.DOC]["S"]) == records.task_document(record.task)


def test_other_items_and_their_lines_are_untouched(tmp_path: Path) -> None:
    export = _export(tmp_path, _items())
    inflate_export(export.folder, tmp_path / "out")
    before, after = _lines(export.folder), _lines(tmp_path / "out")
    assert before.keys() == after.keys()
    untouched = 0
    for name, lines in before.items():
        assert len(lines) == len(after[name])
        for old, new in zip(lines, after[name], strict=True):
            if Attr.BODY not in json.loads(old)["Item"]:
                assert new == old  # byte for byte, the index entry whose projection says "body" too
                untouched += 1
    assert untouched == 3


def test_manifests_and_other_files_are_copied_as_they_are(tmp_path: Path) -> None:
    export = _export(tmp_path, _items())
    inflate_export(export.folder, tmp_path / "out")
    others = sorted(
        path.relative_to(export.folder)
        for path in export.folder.rglob("*")
        if path.is_file() and path.parent.name != "data"
    )
    assert [str(path) for path in others] == [
        "_started",
        "manifest-files.checksum",
        "manifest-files.json",
        "manifest-summary.checksum",
        "manifest-summary.json",
    ]
    for relative in others:
        assert (tmp_path / "out" / relative).read_bytes() == (export.folder / relative).read_bytes()
    # The manifest still names the data files: the inflated copy keeps their names (one is empty).
    named = {
        Path(json.loads(line)["dataFileS3Key"]).name
        for line in (tmp_path / "out" / "manifest-files.json").read_text().splitlines()
    }
    assert named == {path.name for path in (tmp_path / "out" / "data").iterdir()}


def _with_bad_record(tmp_path: Path, change: dict[str, Any]) -> tuple[Export, dict[str, Any]]:
    items = _items()
    bad = {**items[1], **change}
    return _export(tmp_path, [*items[:1], bad, *items[2:]]), bad


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({Attr.FORMAT: {"N": "3"}}, "task record format '3'; inflate reads 2"),
        ({Attr.FORMAT: {"N": "1"}}, "task record format '1'"),
        ({Attr.BODY: {"B": zlib.compress(b"[1, 2]")}}, "not an object with a doc"),
        ({Attr.BODY: {"B": b"not zlib at all"}}, "body does not decode"),
        ({Attr.BODY: {"S": "text"}}, "not a binary (B) value"),
    ],
    ids=["format-3", "format-1", "no-doc", "not-zlib", "not-binary"],
)
def test_a_record_that_cannot_be_inflated_is_refused_by_its_key_and_nothing_is_written(
    tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    export, bad = _with_bad_record(tmp_path, change)
    target = tmp_path / "out"
    with pytest.raises(InflateError) as raised:
        inflate_export(export.folder, target)
    message = str(raised.value)
    assert says in message and f"pk={bad['pk']['S']!r} sk='TASK'" in message
    assert "\n" not in message
    assert not target.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["s3"]  # no staging folder left


def test_base64_that_is_not_base64_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path, _items())
    data = next(path for path in export.data_files if path.stat().st_size > 40)
    lines = gzip.decompress(data.read_bytes()).splitlines()
    index = next(n for n, line in enumerate(lines) if b'"body"' in line)
    document = json.loads(lines[index])
    document["Item"][Attr.BODY] = {"B": "***"}
    lines[index] = json.dumps(document).encode()
    data.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(
        InflateError, match=rf"data/{data.name} line {index + 1}: item pk='TASK#.*body does not"
    ):
        inflate_export(export.folder, tmp_path / "out")


def test_the_cli_inflates_and_exits_2_with_one_line_naming_the_key(tmp_path: Path, capsys: Any) -> None:
    export = _export(tmp_path, _items())
    assert main(["export", "inflate", str(export.folder), str(tmp_path / "good")]) == 0
    assert "inflated 3 task records of 6 items in 3 data files" in capsys.readouterr().out

    export, bad = _with_bad_record(tmp_path / "bad", {Attr.FORMAT: {"N": "3"}})
    assert main(["export", "inflate", str(export.folder), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("taskbeacon: error: data/") and err.count("\n") == 1
    assert bad["pk"]["S"] in err and "format '3'" in err
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_folder_that_is_not_an_export_and_a_destination_in_use(
    tmp_path: Path, capsys: Any
) -> None:
    export = _export(tmp_path, _items())
    assert main(["export", "inflate", str(tmp_path), str(tmp_path.parent / "x")]) == 2
    assert "has no data/ folder" in capsys.readouterr().err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("mine")
    assert main(["export", "inflate", str(export.folder), str(tmp_path / "used")]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "used" / "file").read_text() == "mine"
    assert main(["export", "inflate", str(export.folder), str(export.folder / "inside")]) == 2
    assert "outside SRC" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", "inflate", str(export.folder), str(tmp_path / "empty")]) == 0


def test_inflating_twice_gives_the_same_files(tmp_path: Path) -> None:
    export = _export(tmp_path, _items())
    inflate_export(export.folder, tmp_path / "once")
    inflate_export(tmp_path / "once", tmp_path / "twice")
    assert _lines(tmp_path / "once") == _lines(tmp_path / "twice")


def test_an_incremental_exports_images_are_inflated_too() -> None:
    item = export_item(_record(1))
    line = json.dumps({"Metadata": {"WriteTime": {"N": "1"}}, "Keys": {}, "NewImage": item, "OldImage": item})
    document = json.loads(inflate.inflate_line(line.encode() + b"\n"))
    assert Attr.DOC in document["NewImage"] and Attr.HISTORY in document["OldImage"]
    assert document["Keys"] == {} and document["Metadata"] == {"WriteTime": {"N": "1"}}
    assert base64.b64decode(document["NewImage"][Attr.BODY]["B"]) == _record(1)[Attr.BODY]["B"]
