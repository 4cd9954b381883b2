"""Reading the export tables and the build they came from out of the warehouse.

Rows are sorted in Python, not by the database, so their order does not depend on the
server's collation: the same warehouse content gives the same files on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.catalog import table_exists

EXPORT_SCHEMA = "exports"
TABLE_PREFIX = "medicinraadet_followup_"
BUILD_INFO = "medicinraadet_build_info"


@dataclass(frozen=True)
class ExportTable:
    """One export table: its name, column names and rows (sorted)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class BuildInfo:
    """What the dbt build behind the export tables says about itself."""

    cutoff_date: date
    dbt_invocation_id: str
    dbt_version: str
    disclosure_threshold: int


def read_build_info(conn: psycopg.Connection) -> BuildInfo:
    if not table_exists(conn, f"{EXPORT_SCHEMA}.{BUILD_INFO}"):
        raise MedfollowError(
            f"no {EXPORT_SCHEMA}.{BUILD_INFO} in the warehouse: build the "
            "marts first (dbt build, or the followup_marts DAG)"
        )
    row = conn.execute(
        f"select cutoff_date, dbt_invocation_id, dbt_version, disclosure_threshold "
        f"from {EXPORT_SCHEMA}.{BUILD_INFO}"
    ).fetchone()
    if row is None or row[0] is None:
        raise MedfollowError(f"{EXPORT_SCHEMA}.{BUILD_INFO} is empty: no CPR delivery is loaded")
    return BuildInfo(
        cutoff_date=row[0],
        dbt_invocation_id=row[1],
        dbt_version=row[2],
        disclosure_threshold=int(row[3]),
    )


def read_export_tables(conn: psycopg.Connection) -> list[ExportTable]:
    """Every exports.medicinraadet_followup_* table, in name order."""
    names = [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables "
            "where table_schema = %s and table_name like %s order by table_name",
            (EXPORT_SCHEMA, TABLE_PREFIX.replace("_", r"\_") + "%"),
        )
    ]
    if not names:
        raise MedfollowError(f"no {EXPORT_SCHEMA}.{TABLE_PREFIX}* tables: build the marts first")
    return [_read(conn, name) for name in names]


def _read(conn: psycopg.Connection, name: str) -> ExportTable:
    cursor = conn.execute(f'select * from {EXPORT_SCHEMA}."{name}"')
    columns = tuple(d.name for d in cursor.description or ())
    rows = sorted(cursor.fetchall(), key=sort_key)
    return ExportTable(name=name, columns=columns, rows=tuple(tuple(r) for r in rows))


def sort_key(row: Sequence[Any]) -> tuple[tuple[bool, Any], ...]:
    """Nulls first, then values in their own type's order (numbers numerically)."""
    return tuple((value is not None, value) for value in row)
