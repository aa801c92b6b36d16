"""The committed Athena SQL (exports/athena), run locally: transpiled by sqlglot, executed by DuckDB.

Only two things are not the committed text run as is, both named here:
- ``CREATE EXTERNAL TABLE`` has no DuckDB twin: its column types are read from the committed DDL
  and become ``read_json``'s columns over the export's ``data/*.json.gz`` (what the JSON SerDe reads
  from the LOCATION in Athena). Declared attributes a line lacks are NULL in both; others are ignored.
- Results are fetched with time-zone timestamps as epoch microseconds (DuckDB would need pytz).
Everything else (views and queries) is the file's text, transpiled from ``athena`` to ``duckdb``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import expressions as exp

ATHENA = Path(__file__).resolve().parents[2] / "exports" / "athena"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text(name: str) -> str:
    return (ATHENA / name).read_text()


def parse(name: str) -> exp.Expr:
    statements = [s for s in sqlglot.parse(text(name), read="athena") if s is not None]
    assert len(statements) == 1, f"{name}: Athena runs one statement per query, found {len(statements)}"
    return statements[0]


def transpiled(name: str) -> str:
    (sql,) = sqlglot.transpile(
        text(name), read="athena", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    return sql


def export_table_columns() -> dict[str, str]:
    """The committed external table's columns, as DuckDB types."""
    create = parse("export_table.sql")
    assert isinstance(create, exp.Create)
    schema = create.this
    assert isinstance(schema, exp.Schema)
    return {column.name: column.args["kind"].sql(dialect="duckdb") for column in schema.expressions}


def export_table_properties() -> dict[str, str]:
    create = parse("export_table.sql")
    properties = create.args["properties"].expressions
    found: dict[str, str] = {}
    for prop in properties:
        if isinstance(prop, exp.RowFormatSerdeProperty):
            found["serde"] = prop.this.name
        elif isinstance(prop, exp.LocationProperty):
            found["location"] = prop.this.name
        elif isinstance(prop, exp.ExternalProperty):
            found["external"] = "yes"
    return found


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(data_folder: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB holding the export table over ``data_folder`` and the committed views on it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    columns = ", ".join(f"{_quote(name)}: {_quote(kind)}" for name, kind in export_table_columns().items())
    glob = str(data_folder / "*.json.gz")
    options = f"format = 'newline_delimited', compression = 'gzip', columns = {{{columns}}}"
    source = f"read_json({_quote(glob)}, {options})"
    con.execute(f"CREATE VIEW taskbeacon_export AS SELECT * FROM {source}")  # noqa: S608 - our own paths
    con.execute(transpiled("tasks.sql"))
    con.execute(transpiled("history.sql"))
    return con


def run(con: duckdb.DuckDBPyConnection, name: str, *parameters: str) -> list[dict[str, Any]]:
    """Rows of the committed query ``name`` with its ``?`` parameters (as Athena's execution parameters)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE result AS {transpiled(name)}", list(parameters))
    described = con.execute("DESCRIBE result").fetchall()
    select = ", ".join(
        f'epoch_us("{column}") AS "{column}"' if kind == "TIMESTAMP WITH TIME ZONE" else f'"{column}"'
        for column, kind, *_ in described
    )
    stamps = {column for column, kind, *_ in described if kind == "TIMESTAMP WITH TIME ZONE"}
    rows = con.execute(f"SELECT {select} FROM result").fetchall()  # noqa: S608 - names DuckDB gave
    names = [column for column, *_ in described]
    return [
        {
            name: (EPOCH + timedelta(microseconds=value) if name in stamps and value is not None else value)
            for name, value in zip(names, row, strict=True)
        }
        for row in rows
    ]
