"""Turn a DynamoDB export of the table into the form the committed Athena SQL reads.

A task record stores its document and history in one zlib-compressed binary attribute, ``body``
(``fmt`` 2; ``lambdas/core/store/records.py`` ``record_item``, docs/decisions.md "Stored format").
Athena cannot decompress zlib, so the views in ``exports/athena/`` read the readable spelling
instead: ``doc`` (S, the task document as compact JSON) and ``hist`` (S, the history as compact JSON
list). Inflating adds those two attributes to every item that has a ``body``, spelled exactly as
``core.store.records.dumps`` spells JSON, and leaves everything else as it is: the item's other
attributes (``body`` and ``fmt`` included), and every item without a ``body`` (keepalives, index
entries, counters, older records that already have ``doc``/``hist``), whose lines are copied byte for
byte.

Input and output are an export folder as ``export-table-to-point-in-time`` writes it
(``.../AWSDynamoDB/<ExportId>/``, docs/export.md "What an export is"): ``data/*.json.gz`` holds the
items, gzip, one DynamoDB JSON line each (``{"Item": {...}}``, a B value as base64 text; the
``NewImage``/``OldImage`` of an incremental export's lines are inflated the same way). Every other
file (the manifests, their checksums, ``_started``) is copied as it is, so the manifests still
describe the original data files (names and item counts are the same; checksums are not).

A body in another format than 2, or one that does not decode, stops the run with an error naming the
item's key. Nothing is half-written: the output is built in a temporary folder beside ``DST`` and
renamed to ``DST`` once complete. Standard library only, streaming line by line.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# Names and the format number of the task record (lambdas/core/store/schema.py, which this operator
# package cannot import: an installed CLI has no lambdas/). Pinned to it by tests/export.
FORMAT_VERSION: Final = 2
FORMAT: Final = "fmt"
BODY: Final = "body"
DOC: Final = "doc"
HISTORY: Final = "hist"
KEY: Final = ("pk", "sk")
DATA: Final = "data"
DATA_SUFFIX: Final = ".json.gz"
# Where a line of an export holds an item: a full export's "Item"; an incremental export's images.
IMAGES: Final = ("Item", "NewImage", "OldImage")
_BODY_MARK: Final = b'"body"'


class InflateError(ValueError):
    """The export cannot be inflated (a message of one line, naming the file, line and item key)."""


@dataclass(frozen=True)
class Report:
    data_files: int
    items: int  # data lines read
    inflated: int  # items given doc and hist
    copied: int  # other files copied as they are


def dumps(value: Any) -> str:
    """JSON as ``core.store.records.dumps`` writes it: compact, keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _key(item: dict[str, Any]) -> str:
    parts = []
    for name in KEY:
        value = item.get(name)
        text = next(iter(value.values()), None) if isinstance(value, dict) and value else value
        parts.append(f"{name}={text!r}")
    return " ".join(parts)


def read_body(item: dict[str, Any]) -> dict[str, Any]:
    """The decoded body of a task record item in export JSON (``{"B": "<base64>"}``)."""
    version = item.get(FORMAT, {}).get("N") if isinstance(item.get(FORMAT), dict) else None
    if version != str(FORMAT_VERSION):
        raise InflateError(
            f"item {_key(item)}: task record format {version!r}; inflate reads {FORMAT_VERSION}"
        )
    value = item[BODY]
    raw = value.get("B") if isinstance(value, dict) else None
    if not isinstance(raw, str):
        raise InflateError(f"item {_key(item)}: body is not a binary (B) value")
    try:
        body = json.loads(zlib.decompress(base64.b64decode(raw, validate=True)).decode("utf-8"))
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InflateError(f"item {_key(item)}: body does not decode ({reason})") from exc
    if not isinstance(body, dict) or not isinstance(body.get(DOC), dict):
        raise InflateError(f"item {_key(item)}: body is not an object with a doc")
    history = body.get(HISTORY)
    if history is not None and not isinstance(history, list):
        raise InflateError(f"item {_key(item)}: body's hist is not a list")
    return body


def inflate_item(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with ``doc`` and ``hist`` added when it has a ``body``; the same item otherwise."""
    if BODY not in item:
        return item
    body = read_body(item)
    return {**item, DOC: {"S": dumps(body[DOC])}, HISTORY: {"S": dumps(body.get(HISTORY) or [])}}


def inflate_line(line: bytes) -> bytes:
    """One line of a data file, inflated; a line without a body comes back unchanged."""
    if _BODY_MARK not in line:  # most items (index entries, keepalives) are not records
        return line
    try:
        document = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InflateError(f"not a JSON line ({exc})") from exc
    if not isinstance(document, dict):
        return line
    changed = dict(document)
    for image in IMAGES:
        item = document.get(image)
        if isinstance(item, dict) and BODY in item:
            changed[image] = inflate_item(item)
    if changed.keys() == document.keys() and all(changed[k] is document[k] for k in document):
        return line  # "body" was only in a value, not an attribute
    end = b"\n" if line.endswith(b"\n") else b""
    return json.dumps(changed, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + end


def inflate_data_file(source: Path, target: Path) -> tuple[int, int]:
    """Inflate one gzipped data file into ``target``; (lines read, items inflated)."""
    lines = inflated = 0
    where = f"{source.parent.name}/{source.name}"
    with (
        gzip.open(source, "rb") as reader,
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as writer,
    ):
        try:
            for line in reader:
                out = inflate_line(line)
                lines += 1
                inflated += out is not line
                writer.write(out)
        except InflateError as exc:
            raise InflateError(f"{where} line {lines + 1}: {exc}") from exc
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InflateError(f"{where}: not a readable gzip file ({exc})") from exc
    return lines, inflated


def _is_data_file(relative: Path) -> bool:
    return len(relative.parts) == 2 and relative.parts[0] == DATA and relative.name.endswith(DATA_SUFFIX)


def _check(src: Path, dst: Path) -> None:
    if not src.is_dir():
        raise InflateError(f"SRC {str(src)!r} is not a folder")
    if not (src / DATA).is_dir():
        raise InflateError(
            f"SRC {str(src)!r} has no data/ folder: give the export's folder, .../AWSDynamoDB/<ExportId>/"
        )
    source, target = src.resolve(), dst.resolve()
    if target == source or source in target.parents or target in source.parents:
        raise InflateError("DST must be a folder outside SRC (and SRC not inside DST)")
    if dst.exists() and not (dst.is_dir() and not any(dst.iterdir())):
        raise InflateError(f"DST {str(dst)!r} exists and is not an empty folder")


def inflate_export(src: Path, dst: Path) -> Report:
    """Write the inflated copy of the export folder ``src`` to ``dst`` (absent, or an empty folder)."""
    src, dst = Path(src), Path(dst)
    _check(src, dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.inflating-", dir=dst.parent))
    try:
        data_files = items = inflated = copied = 0
        for path in sorted(src.rglob("*")):
            if path.is_dir():
                continue
            relative = path.relative_to(src)
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if _is_data_file(relative):
                lines, done = inflate_data_file(path, target)
                data_files, items, inflated = data_files + 1, items + lines, inflated + done
            else:
                shutil.copyfile(path, target)
                copied += 1
        (staging / DATA).mkdir(exist_ok=True)
        if dst.exists():
            dst.rmdir()  # empty, checked above
        staging.rename(dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Report(data_files=data_files, items=items, inflated=inflated, copied=copied)
