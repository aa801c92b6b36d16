"""The committed Athena SQL (exports/athena), run locally: transpiled by sqlglot, executed by DuckDB.

Only two things are not the committed text run as is, both named here:
- ``CREATE EXTERNAL TABLE`` has no DuckDB twin: its column types are read from the committed DDL
  and become ``read_json``'s columns over the export's ``data/*.json.gz`` (what the JSON SerDe reads
  from the LOCATION in Athena). Declared attributes a line lacks are NULL in both; others are ignored.
  The flow-log tables (space-delimited text) become ``read_csv`` over ``**/*.log.gz`` with the
  DDL's columns, its header lines skipped, and values cast as Hive's text SerDe does (``'-'`` is NULL
  in a number column and stays ``'-'`` in a string column); the projected ``day`` partition is the
  file's ``yyyy/MM/dd`` folder, as the DDL's ``storage.location.template`` places it.
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


def table_columns(name: str) -> dict[str, str]:
    """A committed external table's columns (not its partition columns), as DuckDB types."""
    create = parse(name)
    assert isinstance(create, exp.Create)
    schema = create.this
    assert isinstance(schema, exp.Schema)
    return {column.name: column.args["kind"].sql(dialect="duckdb") for column in schema.expressions}


def table_properties(name: str) -> dict[str, str]:
    """A committed external table's storage properties; TBLPROPERTIES keep their own keys."""
    create = parse(name)
    properties = create.args["properties"].expressions
    found: dict[str, str] = {}
    for prop in properties:
        if isinstance(prop, exp.RowFormatSerdeProperty):
            found["serde"] = prop.this.name
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            found["fields_terminated_by"] = prop.args["fields"].name
        elif isinstance(prop, exp.LocationProperty):
            found["location"] = prop.this.name
        elif isinstance(prop, exp.ExternalProperty):
            found["external"] = "yes"
        elif isinstance(prop, exp.PartitionedByProperty):
            found["partitioned_by"] = ",".join(column.name for column in prop.this.expressions)
        elif isinstance(prop, exp.Property):
            found[prop.name] = prop.args["value"].name
    return found


def export_table_columns() -> dict[str, str]:
    return table_columns("export_table.sql")


def export_table_properties() -> dict[str, str]:
    return table_properties("export_table.sql")


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
    con.execute(transpiled("ip_intervals.sql"))
    return con


def attach_flow_logs(con: duckdb.DuckDBPyConnection, ddl: str, folder: Path) -> str:
    """The flow-log table of the committed ``ddl`` over ``folder`` (standing for its LOCATION)."""
    create = parse(ddl)
    table = create.this.this.name
    properties = table_properties(ddl)
    assert properties["fields_terminated_by"] == " " and properties["partitioned_by"] == "day"
    template, location = properties["storage.location.template"], properties["location"]
    assert template == location + "${day}/", "the day folder sits right under the LOCATION"
    columns = table_columns(ddl)
    # Every field is read as text, then cast as Hive's text SerDe does: a number column reads '-'
    # (or anything else it cannot parse) as NULL, a string column keeps '-'.
    as_text = ", ".join(f"{_quote(name)}: 'VARCHAR'" for name in columns)
    options = (
        f"delim = ' ', header = false, skip = {int(properties['skip.header.line.count'])}, "
        f"compression = 'gzip', quote = '', escape = '', columns = {{{as_text}}}, filename = true, "
        "auto_detect = false"
    )
    source = f"read_csv({_quote(str(folder / '**' / '*.log.gz'))}, {options})"
    typed = ", ".join(
        f'"{name}"' if kind == "TEXT" else f'TRY_CAST("{name}" AS {kind}) AS "{name}"'
        for name, kind in columns.items()
    )
    day = r"regexp_extract(filename, '(\d{4}/\d{2}/\d{2})/[^/]+$', 1)"
    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {typed}, {day} AS day FROM {source}")  # noqa: S608
    return table


def run(con: duckdb.DuckDBPyConnection, name: str, *parameters: str) -> list[dict[str, Any]]:
    """Rows of the committed query ``name`` with its ``?`` parameters (as Athena's execution parameters)."""
    return rows(con, transpiled(name), *parameters)


def rows(con: duckdb.DuckDBPyConnection, sql: str, *parameters: str) -> list[dict[str, Any]]:
    """Rows of DuckDB ``sql`` as dicts, time-zone timestamps as aware datetimes."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE result AS {sql}", list(parameters))
    described = con.execute("DESCRIBE result").fetchall()
    select = ", ".join(
        f'epoch_us("{column}") AS "{column}"' if kind == "TIMESTAMP WITH TIME ZONE" else f'"{column}"'
        for column, kind, *_ in described
    )
    stamps = {column for column, kind, *_ in described if kind == "TIMESTAMP WITH TIME ZONE"}
    fetched = con.execute(f"SELECT {select} FROM result").fetchall()  # noqa: S608 - names DuckDB gave
    names = [column for column, *_ in described]
    return [
        {
            name: (EPOCH + timedelta(microseconds=value) if name in stamps and value is not None else value)
            for name, value in zip(names, row, strict=True)
        }
        for row in fetched
    ]
