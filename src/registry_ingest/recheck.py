"""Give rows quarantined for an unknown person another chance against a newer CPR register.

A row is quarantined as "person not in the CPR register" when its person is missing from the
register loaded at the time. Registers lag (a birth or an immigration registered after the
cut-off of the register the row met), so after every register load the rows of each source
checked against it are looked at again: a row whose every person is now known moves back
into its raw table, under its original delivery (and row number, in a numbered table), with
the child rows that followed it into quarantine (an LPR3 contact's diagnoses and
procedures). Each move is recorded in ``audit.rechecks``; rows still unknown stay where they
were.

A snapshot source's rows are reinstated only for the snapshot in force: an older snapshot's
rows were replaced and must not come back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from medfollow_core.landing import audit
from medfollow_core.landing.contracts import SourceContract, Table, all_contracts
from medfollow_core.warehouse.catalog import columns_of, table_exists
from registry_ingest.load import quarantine_name, raw_name

log = logging.getLogger(__name__)


def unknown_person_reason(column: str) -> str:
    """The quarantine reason of a row whose ``column`` names no registered person."""
    return f"{column}: person not in the CPR register"


def child_reason(key: str, parent: Table) -> str:
    """The quarantine reason of a child row that followed its parent into quarantine."""
    return f"{key}: its {parent.name} row is quarantined"


def unregistered(expression: sql.Composable) -> sql.Composable:
    """SQL true when the person key ``expression`` is neither in the register nor a former
    key of a registered person (CPR changes)."""
    return sql.SQL(
        "not exists (select 1 from raw.cpr__persons p where p.person_key = {e}) and not exists "
        "(select 1 from raw.cpr__changes h where h.gammelt_person_key = {e})"
    ).format(e=expression)


@dataclass(frozen=True)
class Reinstated:
    source: str
    table: str
    delivery_id: str
    rows: int


def recheck_unknown_persons(url: str) -> list[Reinstated]:
    """Move back into raw every quarantined unknown-person row whose persons are now all
    registered (and their quarantined children); one transaction per source. Each move
    names the register in force (the snapshot that made the persons known)."""
    found: list[Reinstated] = []
    with psycopg.connect(url) as conn:
        if not (table_exists(conn, "raw.cpr__persons") and table_exists(conn, "raw.cpr__changes")):
            return found
        register = audit.snapshot_in_force(conn, "cpr")
        register_delivery = register[1] if register else None
        for contract in all_contracts().values():
            if not contract.references_cpr_register:
                continue
            with conn.transaction():
                audit.lock_source(conn, contract.source)
                found += _recheck_source(conn, contract, register_delivery)
            conn.execute(
                "select pg_advisory_unlock(hashtext('medfollow.source'), hashtext(%s))",
                (contract.source,),
            )
    for moved in found:
        log.info(
            "%s.%s: %d rows of delivery %s reinstated (persons now registered)",
            moved.source,
            moved.table,
            moved.rows,
            moved.delivery_id,
        )
    return found


def _recheck_source(
    conn: psycopg.Connection, contract: SourceContract, register_delivery: str | None
) -> list[Reinstated]:
    in_force = None
    if contract.mode == "snapshot":
        snapshot = audit.snapshot_in_force(conn, contract.source)
        if snapshot is None:
            return []
        in_force = snapshot[1]
    found: list[Reinstated] = []
    for table in contract.tables:
        persons = [c.target for c in table.columns if c.type == "cpr"]
        if not persons or not columns_of(conn, "quarantine", f"{contract.source}__{table.name}"):
            continue
        known = sql.SQL(" and ").join(
            sql.SQL("({value} is null or not ({unknown}))").format(
                value=sql.SQL("(q.record ->> {})").format(sql.Literal(c)),
                unknown=unregistered(sql.SQL("(q.record ->> {})").format(sql.Literal(c))),
            )
            for c in persons
        )
        reasons = sql.SQL(", ").join(sql.Literal(unknown_person_reason(c)) for c in persons)
        condition = sql.SQL("q.reason in ({reasons}) and {known}").format(
            reasons=reasons, known=known
        )
        found += _reinstate(conn, contract, table, condition, in_force, register_delivery)
        for child, key in _children(contract, table):
            followed = sql.SQL(
                "q.reason = {reason} and (q.record ->> {child_key}) in "
                "(select r.{parent_key}::text from {parent} r where r._delivery_id = q._delivery_id)"
            ).format(
                reason=sql.Literal(child_reason(key, table)),
                child_key=sql.Literal(child.column(key).target),
                parent_key=sql.Identifier(table.column(key).target),
                parent=raw_name(contract, table),
            )
            found += _reinstate(conn, contract, child, followed, in_force, register_delivery)
    return found


def _children(contract: SourceContract, parent: Table) -> list[tuple[Table, str]]:
    """Tables hanging off ``parent`` by its single non-CPR key (see pipeline.children_of)."""
    from registry_ingest.pipeline import children_of

    return [(child, key) for p, child, key in children_of(contract) if p is parent]


def _reinstate(
    conn: psycopg.Connection,
    contract: SourceContract,
    table: Table,
    condition: sql.Composable,
    in_force: str | None,
    register_delivery: str | None,
) -> list[Reinstated]:
    """Move the quarantined rows of ``table`` matching ``condition`` back into raw."""
    target = raw_name(contract, table)
    present = columns_of(conn, "raw", f"{contract.source}__{table.name}")
    # what the quarantined row brings back: its delivery, and its row in the file where the
    # raw table keeps row numbers (``_loaded_at`` is the time it is reinstated)
    lineage = [c for c in ("_delivery_id", "_row_number") if c in present]
    data = sorted(present - {"_delivery_id", "_row_number", "_loaded_at"})
    scope = (
        sql.SQL(" and q._delivery_id = {}").format(sql.Literal(in_force))
        if in_force
        else sql.SQL("")
    )
    rows = conn.execute(
        sql.SQL(
            """with back as (
                   delete from {q} q where {condition}{scope}
                   returning q._delivery_id, q._row_number, q.record)
               insert into {t} ({data}, {lineage})
               select {typed}, {back_lineage}
                 from back, jsonb_populate_record(null::{t}, back.record) r
               returning _delivery_id"""
        ).format(
            q=quarantine_name(contract, table),
            condition=condition,
            scope=scope,
            t=target,
            data=sql.SQL(", ").join(map(sql.Identifier, data)),
            lineage=sql.SQL(", ").join(map(sql.Identifier, lineage)),
            back_lineage=sql.SQL(", ").join(sql.Identifier("back", c) for c in lineage),
            typed=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in data),
        )
    ).fetchall()
    counts: dict[str, int] = {}
    for (delivery_id,) in rows:
        counts[delivery_id] = counts.get(delivery_id, 0) + 1
    for delivery_id, n in sorted(counts.items()):
        conn.execute(
            """insert into audit.rechecks
                   (source, table_name, delivery_id, register_delivery_id, rows_reinstated)
               values (%s, %s, %s, %s, %s)""",
            (contract.source, table.name, delivery_id, register_delivery, n),
        )
    return [Reinstated(contract.source, table.name, d, n) for d, n in sorted(counts.items())]
