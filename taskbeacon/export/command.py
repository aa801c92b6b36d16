"""``taskbeacon export inflate SRC DST``: the CLI calls add_arguments(parser) and run(args)."""

from __future__ import annotations

import argparse
from pathlib import Path

from taskbeacon.api.errors import CliError, UsageError
from taskbeacon.export.inflate import FORMAT_VERSION, InflateError, inflate_export

DESCRIPTION = """\
Work on a DynamoDB export of the table (docs/export.md).

inflate: the task record keeps its document and history zlib-compressed in `body`, which Athena
cannot read; inflate copies an export folder, adding to each task record the readable `doc` and
`hist` that the committed SQL (exports/athena/) reads. Exports live in S3 and this works on local
folders, so `aws s3 sync` moves an export down and back up.
"""

INFLATE_EPILOG = f"""\
example:
  aws s3 sync s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ export/
  taskbeacon export inflate export/ inflated/
  aws s3 sync inflated/ s3://BUCKET/PREFIX/inflated/EXPORT_ID/
  then point export_table.sql's LOCATION at s3://BUCKET/PREFIX/inflated/EXPORT_ID/data/

Every item keeps its attributes; items without a body (index entries, keepalives, counters) are
copied unchanged, and so are the manifests and other files. A body in a format other than
{FORMAT_VERSION}, or one that does not decode, stops the run (exit 2) naming the item's key; DST is
written only when the whole export is inflated.

exit codes:
  0  inflated
  1  a file could not be read or written
  2  usage error, SRC is not an export folder, DST is not empty, or an item cannot be inflated
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="export_command", metavar="{inflate}", required=True)
    inflate = sub.add_parser(
        "inflate",
        help="add the readable doc and hist to each task record of an export folder, for Athena",
        description=DESCRIPTION,
        epilog=INFLATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inflate.add_argument(
        "src",
        metavar="SRC",
        type=Path,
        help="the export's folder as downloaded (holds data/ and the manifests): "
        "aws s3 sync s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/ SRC",
    )
    inflate.add_argument(
        "dst",
        metavar="DST",
        type=Path,
        help="where to write the inflated export (must not exist, or be empty); then aws s3 sync DST s3://...",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = inflate_export(args.src, args.dst)
    except InflateError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"export inflate: {exc}") from exc
    print(
        f"inflated {report.inflated} task records of {report.items} items in {report.data_files} data "
        f"files, copied {report.copied} other files: {args.dst}"
    )
    return 0
