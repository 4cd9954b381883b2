"""Write typed, pseudonymised batches into ``raw`` and refused rows into ``quarantine``.

Tables are derived from the contract (``raw.<source>__<table>`` plus the lineage columns
``_delivery_id``, ``_row_number`` and ``_loaded_at``), created or widened on demand. Rows
travel by COPY (``medfollow_core.warehouse.copy``).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from medfollow_core.landing.contracts import SourceContract, Table
from medfollow_core.warehouse.catalog import columns_of

LINEAGE = (
    ("_delivery_id", "text not null"),
    ("_row_number", "bigint not null"),
    ("_loaded_at", "timestamptz not null default now()"),
)
QUARANTINE_COLUMNS = (
    ("_delivery_id", "text not null"),
    ("_row_number", "bigint not null"),
    ("reason", "text not null"),
    ("record", "jsonb not null"),
)


def raw_name(contract: SourceContract, table: Table) -> sql.Identifier:
    return sql.Identifier("raw", f"{contract.source}__{table.name}")


def quarantine_name(contract: SourceContract, table: Table) -> sql.Identifier:
    return sql.Identifier("quarantine", f"{contract.source}__{table.name}")


def raw_columns(table: Table) -> list[tuple[str, str]]:
    return [(c.target, c.pg_type) for c in table.columns] + list(LINEAGE)


def ensure_tables(conn: psycopg.Connection, contract: SourceContract) -> None:
    """Create the source's raw and quarantine tables, adding columns a contract gained.

    DDL takes an exclusive lock until the load commits, blocking readers of raw; so nothing
    is altered unless a table or column is actually missing.
    """
    for table in contract.tables:
        for schema, name, columns in (
            ("raw", f"{contract.source}__{table.name}", raw_columns(table)),
            ("quarantine", f"{contract.source}__{table.name}", list(QUARANTINE_COLUMNS)),
        ):
            existing = columns_of(conn, schema, name)
            ident = sql.Identifier(schema, name)
            if not existing:
                conn.execute(
                    sql.SQL("create table if not exists {} ({})").format(
                        ident,
                        sql.SQL(", ").join(
                            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                            for c, t in columns
                        ),
                    )
                )
                if schema == "raw":
                    _describe_new_raw_table(conn, contract, table)
                continue
            for column, pg_type in columns:
                if column not in existing:
                    conn.execute(
                        sql.SQL("alter table {} add column {} {}").format(
                            ident,
                            sql.Identifier(column),
                            sql.SQL(pg_type.replace(" not null", "", 1)),
                        )
                    )


def _describe_new_raw_table(
    conn: psycopg.Connection, contract: SourceContract, table: Table
) -> None:
    # Deliveries are appended contiguously, so a BRIN index finds one delivery's rows
    # (re-runs, quarantine moves) at a fraction of a btree's cost during COPY.
    conn.execute(
        sql.SQL("create index if not exists {} on {} using brin (_delivery_id)").format(
            sql.Identifier(f"{contract.source}__{table.name}__delivery"), raw_name(contract, table)
        )
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            raw_name(contract, table),
            sql.Literal(f"{contract.title}: {table.name} (pseudonymised, contract-typed)"),
        )
    )
