"""Move tables between PostgreSQL and Arrow by COPY, never row by row.

The spine has a row per person in the country; fetching it as Python tuples would cost
more than linking it. COPY streams CSV that Arrow parses in C++ (and the reverse for
writing back), so only ids and small results ever become Python objects.
"""

from __future__ import annotations

import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse import catalog
from medfollow_core.warehouse.copy import copy_table

LOCK_KEY = "medfollow.linkage"


def require_schema(conn: psycopg.Connection) -> None:
    """Refuse, in one line, a warehouse without the linkage tables: they are platform DDL
    (``infra/warehouse/004_linkage.sql``), created when the warehouse is bootstrapped."""
    if not catalog.table_exists(conn, "linkage.person_links"):
        raise MedfollowError(
            "the warehouse has no linkage tables: bootstrap it first (medfollow db start)"
        )


def lock_runs(conn: psycopg.Connection) -> None:
    """One linkage run at a time: two runs would each decide keys the other cannot see."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def read_arrow(conn: psycopg.Connection, query: sql.Composable) -> pa.Table:
    """The result of ``query`` with every column as text (NULL stays NULL)."""
    probe = conn.execute(sql.SQL("select * from ({}) q limit 0").format(query))
    columns = [d.name for d in probe.description or ()]
    buffer = io.BytesIO()
    statement = sql.SQL("copy ({}) to stdout (format csv, force_quote *)").format(query)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    buffer.seek(0)
    # Forced quoting tells an empty string ("") from NULL (nothing) in the CSV.
    options = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in columns},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(
        buffer, read_options=pacsv.ReadOptions(column_names=columns), convert_options=options
    )


def write_arrow(conn: psycopg.Connection, table: str, data: pa.Table) -> int:
    """Append ``data`` to ``table`` (schema-qualified or temporary) by COPY."""
    target = sql.Identifier(*table.split("."))
    return copy_table(conn, target, data)
