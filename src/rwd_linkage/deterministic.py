"""Deterministic linkage on the pseudonymised CPR, entirely inside PostgreSQL.

A record that carries a CPR already names its person; the only work is to follow the CPR
register's number changes, so that a record delivered under an old number lands on the
person's current key. Registries carry the number valid on the event date, so old numbers
keep arriving long after a change; chains (A → B → C) resolve to the end. The succession
itself is platform DDL, defined once: ``linkage.key_succession()``.

The person_links rows are one per distinct delivered pseudonym per source, not one per row:
the marts join ``raw.<table>.person_key = person_links.record_id``, and a prescription
register with hundreds of millions of rows still has only millions of persons.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from medfollow_core.warehouse import catalog
from rwd_linkage.sources import SPINE_TABLE, CprSource


def stage_succession(conn: psycopg.Connection) -> None:
    """Temp table ``succession(old_key, current_key)``: every retired key → today's key."""
    conn.execute(
        "create temp table succession (old_key text primary key, current_key text not null) "
        "on commit drop"
    )
    conn.execute(
        "insert into succession (old_key, current_key) "
        "select old_key, current_key from linkage.key_succession()"
    )


def stage_links(conn: psycopg.Connection, source: CprSource, run_id: str) -> int:
    """Add ``source``'s deterministic links to the temp table ``new_links``."""
    if source.column not in catalog.columns_of(conn, "raw", source.table):
        return 0
    cur = conn.execute(
        sql.SQL("""
        insert into new_links (source, record_id, person_key, method, match_probability, run_id)
        select {name}, r.k, coalesce(s.current_key, r.k), 'deterministic', 1.0, {run}
          from (select distinct {col} as k from {table} where {col} is not null) r
          left join succession s on s.old_key = r.k
    """).format(
            name=sql.Literal(source.name),
            run=sql.Literal(run_id),
            col=sql.Identifier(source.column),
            table=sql.Identifier("raw", source.table),
        )
    )
    return cur.rowcount


def metrics(conn: psycopg.Connection) -> dict[str, dict[str, float]]:
    """Per CPR source: records, how many arrived under a since-replaced number, and how many
    name a person the CPR register does not hold (they keep their own pseudonym)."""
    spine = (
        sql.SQL("(select distinct person_key from {})").format(sql.Identifier("raw", SPINE_TABLE))
        if catalog.table_exists(conn, f"raw.{SPINE_TABLE}")
        else sql.SQL("(select null::text as person_key where false)")
    )
    rows = conn.execute(
        sql.SQL("""
        select n.source, count(*), count(*) filter (where n.person_key <> n.record_id),
               count(*) filter (where s.person_key is null)
          from new_links n left join {spine} s on s.person_key = n.person_key
         where n.method = 'deterministic' group by n.source
    """).format(spine=spine)
    ).fetchall()
    return {
        source: {
            "records": float(n),
            "linked": float(n),
            "link_rate": 1.0,
            "cpr_changes_resolved": float(changed),
            "outside_spine": float(outsiders),
            "review_queue_records": 0.0,
            "minted": 0.0,
        }
        for source, n, changed, outsiders in rows
    }
