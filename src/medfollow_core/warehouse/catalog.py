"""What the warehouse holds right now: tables and their columns (PostgreSQL's catalog).

Sources arrive in any order, so every reader of `raw` asks before it reads; one place
answers, the same way for ingest, linkage, genomics, releases and the demo.
"""

from __future__ import annotations

import psycopg


def table_exists(conn: psycopg.Connection, qualified: str) -> bool:
    """Whether `schema.table` exists (visible to this connection)."""
    row = conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()
    return bool(row and row[0])


def columns_of(conn: psycopg.Connection, schema: str, table: str) -> set[str]:
    """The column names of `schema.table` (empty if there is no such table)."""
    rows = conn.execute(
        "select column_name from information_schema.columns "
        "where table_schema = %s and table_name = %s",
        (schema, table),
    ).fetchall()
    return {r[0] for r in rows}
