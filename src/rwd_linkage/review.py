"""The human side of linkage: what waits for review, and recording what a reviewer decided.

Decisions go to ``linkage.review_decisions`` and are applied by every later run (see
``decide``); recording one does not change links until the next run, which keeps all key
changes — and their history — in one place.
"""

from __future__ import annotations

from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse import catalog
from rwd_linkage import warehouse
from rwd_linkage.sources import SPINE_TABLE

QUEUE_COLUMNS = (
    "source",
    "record_id",
    "candidate_rank",
    "candidate_person_key",
    "share",
    "match_probability",
    "reason",
    "comparison",
)


def queue(
    conn: psycopg.Connection, *, source: str | None = None, limit: int = 50
) -> list[tuple[Any, ...]]:
    """Queued pairs, most uncertain records first."""
    warehouse.require_schema(conn)
    return conn.execute(
        """
        select source, record_id, candidate_rank, candidate_person_key, round(share::numeric, 4),
               round(match_probability::numeric, 4), reason,
               (select string_agg(key || ': ' || (value ->> 'level'), ', ' order by key)
                  from jsonb_each(comparison))
          from linkage.review_queue
         where %(source)s::text is null or source = %(source)s
         order by source, record_id, candidate_rank
         limit %(limit)s
    """,
        {"source": source, "limit": limit},
    ).fetchall()


def record_decision(
    conn: psycopg.Connection,
    *,
    source: str,
    record_id: str,
    person_key: str | None,
    match: bool,
    note: str | None = None,
) -> None:
    """Store a reviewer's decision after checking it names a known record and person."""
    warehouse.require_schema(conn)
    if match and not person_key:
        raise MedfollowError("a match needs the person_key it matches")
    known = conn.execute(
        "select 1 from linkage.person_links where source = %s and record_id = %s",
        (source, record_id),
    ).fetchone()
    if not known:
        raise MedfollowError(
            f"no record {record_id!r} of source {source!r} in linkage.person_links "
            "(run linkage first?)"
        )
    if person_key and not _is_person(conn, person_key):
        raise MedfollowError("that person_key is neither in the CPR register nor a known link")
    conn.execute(
        "insert into linkage.review_decisions (source, record_id, person_key, decision, note) "
        "values (%s, %s, %s, %s, %s)",
        (source, record_id, person_key, "match" if match else "no_match", note),
    )


def _is_person(conn: psycopg.Connection, person_key: str) -> bool:
    if catalog.table_exists(conn, f"raw.{SPINE_TABLE}"):
        row = conn.execute(
            f"select 1 from raw.{SPINE_TABLE} where person_key = %s limit 1", (person_key,)
        ).fetchone()
        if row:
            return True
    row = conn.execute(
        "select 1 from linkage.person_links where person_key = %s limit 1", (person_key,)
    ).fetchone()
    return row is not None
