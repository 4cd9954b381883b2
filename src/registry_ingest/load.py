"""Write typed, pseudonymised batches into ``raw`` and refused rows into ``quarantine``.

``raw.<source>__<table>`` is derived from the contract plus the lineage columns
``_delivery_id`` and ``_loaded_at`` (and ``_row_number``, file order within the delivery,
for a ``numbered`` table, whose rows nothing else tells apart); it is created or widened on
demand and is what every reader queries. A delivery's rows do not go into it directly:
each delivery gets its own table, ``raw.<source>__<table>__a<attempt_id>``, created in the
load's transaction from the parent's columns *without* ``_delivery_id`` and ``_loaded_at``,
filled by COPY (``medfollow_core.warehouse.copy``), and then given those two columns with
the delivery's id and load time as constant defaults and made an inheritance child of the
parent. PostgreSQL keeps such a default once, in the catalogue (``attmissingval``), and
returns it for every row written before the column existed: a query on the parent sees the
lineage columns on every row, but a row stores nothing of them unless its table is
numbered. Storing lineage per row cost the server more than the whole bare COPY; a row
number alone still costs a fifth of it (README, "Performance").

The delivery table is created in the load's transaction, so a failed or killed load leaves
nothing behind, COPY may write it frozen, and the parent is never locked against readers
(``inherit`` takes a share-update lock). Rows inserted into the parent itself (older
warehouses, hand-made fixes) stay valid: the parent keeps its lineage columns.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from medfollow_core.errors import MedfollowError
from medfollow_core.landing.contracts import SourceContract, Table
from medfollow_core.warehouse.catalog import columns_of

log = logging.getLogger(__name__)

PER_DELIVERY = (
    ("_delivery_id", "text not null"),
    ("_loaded_at", "timestamptz not null default now()"),
)
"""Lineage columns a delivery table holds once, as a default, instead of in every row."""
_PER_DELIVERY_NAMES = tuple(name for name, _ in PER_DELIVERY)
ROW_NUMBER = ("_row_number", "bigint not null")
"""File order within the delivery: stored in every row of a ``numbered`` table only."""
QUARANTINE_COLUMNS = (
    ("_delivery_id", "text not null"),
    ("_row_number", "bigint"),
    ("reason", "text not null"),
    ("record", "jsonb not null"),
)
"""A refused row's row number is its row in the file; null for a row of a table without
row numbers that a check across rows (its contact quarantined, an unknown person) moved
out after loading: its record and reason identify it."""


def raw_name(contract: SourceContract, table: Table) -> sql.Identifier:
    return sql.Identifier("raw", f"{contract.source}__{table.name}")


def quarantine_name(contract: SourceContract, table: Table) -> sql.Identifier:
    return sql.Identifier("quarantine", f"{contract.source}__{table.name}")


def delivery_table_name(contract: SourceContract, table: Table, attempt_id: int) -> sql.Identifier:
    """The table holding one load attempt's rows (``attempt_id`` as in ``audit.deliveries``:
    unique, and short enough for PostgreSQL's 63-byte names, which a delivery id is not)."""
    return sql.Identifier("raw", f"{contract.source}__{table.name}__a{attempt_id}")


def raw_columns(table: Table) -> list[tuple[str, str]]:
    lineage = [PER_DELIVERY[0], ROW_NUMBER, PER_DELIVERY[1]] if table.numbered else PER_DELIVERY
    return [(c.target, c.pg_type) for c in table.columns] + list(lineage)


def ensure_tables(conn: psycopg.Connection, contract: SourceContract) -> None:
    """Create the source's raw and quarantine tables, adding columns a contract gained.

    DDL takes an exclusive lock until the load commits, blocking readers of raw; so nothing
    is altered unless a table or column is actually missing. A column added to a raw table
    reaches every delivery table under it (inheritance).
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
                    conn.execute(
                        sql.SQL("comment on table {} is {}").format(
                            ident,
                            sql.Literal(
                                f"{contract.title}: {table.name} (pseudonymised, contract-typed; "
                                "one inheritance child per delivery)"
                            ),
                        )
                    )
                continue
            if schema == "raw" and table.numbered and "_row_number" not in existing:
                raise MedfollowError(
                    f"raw.{name} was made without row numbers, but the contract now numbers "
                    "its rows: the rows it holds would have none (their ids null); move it "
                    "aside and reload its deliveries"
                )
            for column, pg_type in columns:
                if column not in existing:
                    conn.execute(
                        sql.SQL("alter table {} add column {} {}").format(
                            ident,
                            sql.Identifier(column),
                            sql.SQL(pg_type.replace(" not null", "", 1)),
                        )
                    )


def create_delivery_table(
    conn: psycopg.Connection, contract: SourceContract, table: Table, attempt_id: int
) -> tuple[sql.Identifier, list[str]]:
    """Create this attempt's table for ``table``'s rows; returns it and the columns COPY fills.

    The columns are the parent's as the catalogue has them now (so never a second copy of
    the DDL), minus the per-delivery lineage that `attach_delivery_table` adds afterwards.
    """
    parent = raw_name(contract, table)
    columns = [
        (name, pg_type, not_null)
        for name, pg_type, not_null in _live_columns(conn, parent)
        if name not in _PER_DELIVERY_NAMES
    ]
    child = delivery_table_name(contract, table, attempt_id)
    conn.execute(
        sql.SQL("create table {} ({})").format(
            child,
            sql.SQL(", ").join(
                sql.SQL("{} {}{}").format(
                    sql.Identifier(name),
                    sql.SQL(pg_type),
                    sql.SQL(" not null" if not_null else ""),
                )
                for name, pg_type, not_null in columns
            ),
        )
    )
    return child, [name for name, _, _ in columns]


def attach_delivery_table(
    conn: psycopg.Connection,
    contract: SourceContract,
    table: Table,
    child: sql.Identifier,
    delivery_id: str,
) -> None:
    """Give the filled delivery table its delivery id and load time and put it under the parent.

    Adding a column with a constant default (``now()`` is the transaction's start, constant
    within it) rewrites nothing: the value is kept once in the catalogue and read for every
    existing row. Then ``inherit`` makes the rows visible through ``raw.<source>__<table>``
    when the load commits.
    """
    parent = raw_name(contract, table)
    types = {name: pg_type for name, pg_type, _ in _live_columns(conn, parent)}
    defaults = {"_delivery_id": sql.Literal(delivery_id), "_loaded_at": sql.SQL("now()")}
    conn.execute(
        sql.SQL("alter table {} {}, inherit {}").format(
            child,
            sql.SQL(", ").join(
                sql.SQL("add column {} {} not null default {}").format(
                    sql.Identifier(name), sql.SQL(types[name]), defaults[name]
                )
                for name in _PER_DELIVERY_NAMES
            ),
            parent,
        )
    )
    conn.execute(
        sql.SQL("comment on table {} is {}").format(
            child, sql.Literal(f"{contract.source} delivery {delivery_id}: {table.name}")
        )
    )


def replace_earlier_deliveries(
    conn: psycopg.Connection, contract: SourceContract, table: Table
) -> int:
    """Empty a snapshot source's raw table before its new delivery loads; returns the rows
    it held. Earlier delivery tables are dropped, rows held by the parent itself deleted."""
    parent = raw_name(contract, table)
    row = conn.execute(sql.SQL("select count(*) from {}").format(parent)).fetchone()
    children = conn.execute(
        "select inhrelid::regclass::text from pg_inherits where inhparent = %s::regclass",
        (parent.as_string(conn),),
    ).fetchall()
    for (child,) in children:
        conn.execute(sql.SQL("drop table {}").format(sql.SQL(child)))
    conn.execute(sql.SQL("delete from only {}").format(parent))
    return int(row[0]) if row else 0


def _live_columns(conn: psycopg.Connection, table: sql.Identifier) -> list[tuple[str, str, bool]]:
    """(name, SQL type, not null) of a table's live columns, in their order (none if there
    is no such table)."""
    return [
        (str(name), str(pg_type), bool(not_null))
        for name, pg_type, not_null in conn.execute(
            "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
            "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
            (table.as_string(conn),),
        ).fetchall()
    ]


LAYOUT_LOCK_TIMEOUT = "2s"
"""How long `upgrade_layout` waits for a reader to leave a table it alters (readers arriving
meanwhile wait behind it)."""


def upgrade_layout(url: str, contract: SourceContract) -> None:
    """Bring an older warehouse's tables of ``contract`` to the current layout, in a short
    transaction of its own before the load's: the load never holds the exclusive lock these
    catalogue changes take, and readers wait for them (milliseconds) rather than for a load.

    A quarantine table that required a row number accepts rows without one, and a raw table
    of a table the contract no longer numbers drops ``_row_number`` (its delivery tables
    keep theirs: their columns are their own, inheritance only matched them), so new
    delivery tables stop storing it. If a reader holds a table longer than
    `LAYOUT_LOCK_TIMEOUT`, nothing changes now and the load runs on the older layout (its
    delivery tables numbered as before); the next load tries again.
    """
    try:
        with psycopg.connect(url) as conn:
            conn.execute(f"set local lock_timeout = '{LAYOUT_LOCK_TIMEOUT}'")
            for table in contract.tables:
                name = f"{contract.source}__{table.name}"
                quarantine = sql.Identifier("quarantine", name)
                if ("_row_number", "bigint", True) in _live_columns(conn, quarantine):
                    conn.execute(
                        sql.SQL("alter table {} alter column _row_number drop not null").format(
                            quarantine
                        )
                    )
                if not table.numbered and "_row_number" in columns_of(conn, "raw", name):
                    log.info("raw.%s: rows are no longer numbered (see its contract)", name)
                    conn.execute(
                        sql.SQL("alter table {} drop column _row_number").format(
                            sql.Identifier("raw", name)
                        )
                    )
    except psycopg.errors.LockNotAvailable:
        log.warning(
            "%s: a reader held a table; its layout is brought up to date at a later load",
            contract.source,
        )
