"""Stable person keys: minting keys for records without a person, and publishing a run's
links so that nothing moves silently.

A record that matches nobody in the spine (a Faroese patient, a sample whose donor left no
trace) still needs a person_key. It gets a *minted* key: HMAC-SHA256 under the
pseudonymisation key of the source and record id. The same record always gets the same key,
run after run, without any counter that a re-run could renumber; and because it is keyed,
nobody holding a foreign patient id can recompute it to find the record in research data.

Publishing compares the run's links with the current ones. Unchanged links are left
untouched (keeping the run that made them); every record whose key changed leaves a row in
``linkage.key_history`` saying why: the CPR register replaced a number, a minted key joined
a person (merge), a link was undone (split), or a record moved between persons (relink).
"""

from __future__ import annotations

import hashlib
import hmac

import psycopg

_MINT_CONTEXT = b"medfollow-linkage-minted-key\x1f"


class Minter:
    """Stable, keyed person keys for records that resolve to nobody in the spine."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, source: str, record_id: str) -> str:
        message = _MINT_CONTEXT + source.encode("utf-8") + b"\x1f" + record_id.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def stage_tables(conn: psycopg.Connection) -> None:
    """Temp tables a run fills before publishing: its links, review items, minted keys.

    ``new_links`` gets its index only in ``publish``, after the bulk insert: a million rows
    into an indexed temp table overflow the temp buffers and crawl.
    """
    conn.execute(
        "create temp table new_links (like linkage.person_links including defaults) on commit drop"
    )
    conn.execute(
        "create temp table new_review (like linkage.review_queue including all) on commit drop"
    )
    conn.execute(
        "create temp table new_minted (person_key text primary key, source text not null, "
        "record_id text not null) on commit drop"
    )


def publish(conn: psycopg.Connection, run_id: str) -> dict[str, int]:
    """Make the staged links current; returns how many records changed key, by event."""
    conn.execute("create unique index on new_links (source, record_id)")
    # Temp tables are never auto-analysed; without statistics the planner assumes a handful
    # of rows and picks nested loops over a million.
    conn.execute("analyze new_links")
    conn.execute(
        """
        insert into linkage.minted_keys (person_key, source, record_id, run_id)
        select person_key, source, record_id, %s from new_minted
        on conflict (person_key) do nothing
    """,
        (run_id,),
    )
    rows = conn.execute(
        """
        with moved as (
            insert into linkage.key_history (run_id, source, record_id, old_person_key,
                                             new_person_key, event)
            select %s, n.source, n.record_id, p.person_key, n.person_key,
                   case when s.current_key = n.person_key then 'cpr_change'
                        when old_m.person_key is not null and new_m.person_key is null then 'merge'
                        when old_m.person_key is null and new_m.person_key is not null then 'split'
                        else 'relink' end
              from new_links n
              join linkage.person_links p on p.source = n.source and p.record_id = n.record_id
              left join succession s on s.old_key = p.person_key
              left join linkage.minted_keys old_m on old_m.person_key = p.person_key
              left join linkage.minted_keys new_m on new_m.person_key = n.person_key
             where p.person_key <> n.person_key
            returning event)
        select event, count(*) from moved group by event
    """,
        (run_id,),
    ).fetchall()
    conn.execute("""
        delete from linkage.person_links p
         where not exists (select 1 from new_links n
                            where n.source = p.source and n.record_id = p.record_id)
    """)
    conn.execute("""
        insert into linkage.person_links (source, record_id, person_key, method,
                                          match_probability, run_id)
        select source, record_id, person_key, method, match_probability, run_id from new_links
        on conflict (source, record_id) do update
           set person_key = excluded.person_key, method = excluded.method,
               match_probability = excluded.match_probability, run_id = excluded.run_id
         where (linkage.person_links.person_key, linkage.person_links.method)
               is distinct from (excluded.person_key, excluded.method)
    """)
    conn.execute("delete from linkage.review_queue")
    conn.execute("insert into linkage.review_queue select * from new_review")
    return {str(event): int(n) for event, n in rows}
