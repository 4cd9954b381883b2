"""``audit.deliveries``: one row per delivery attempt, whatever its fate.

An attempt row is committed as ``running`` before any data moves, and its final status is
written in the same transaction that makes the data visible; so the table can never claim a
load that did not happen. Every load of a source holds that source's advisory lock, so a row
still ``running`` when the next load of the source gets the lock was left by a dead loader:
the next attempt, of any delivery of the source, marks it failed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError, scrub

LOCK_WAIT = "30min"
"""How long a load waits for another load of the same source before giving up."""


def lock_source(conn: psycopg.Connection, source: str) -> None:
    """Session-level advisory lock: the loads of one source run one at a time.

    Serialising per source (not per delivery) is what makes snapshots safe: two snapshots
    arriving at once load one after the other, and the second sees the first in the audit
    (so the newer cut-off wins whatever the order). It also makes any ``running`` row of the
    source found under the lock a leftover of a dead process.
    """
    conn.execute("select set_config('lock_timeout', %s, false)", (LOCK_WAIT,))
    try:
        conn.execute(
            "select pg_advisory_lock(hashtext('medfollow.source'), hashtext(%s))", (source,)
        )
    except psycopg.errors.LockNotAvailable:
        raise MedfollowError(
            f"{source}: another load of this source has held its lock for {LOCK_WAIT}; "
            "try again when it has finished"
        ) from None
    finally:
        conn.execute("select set_config('lock_timeout', '0', false)")


def loaded_fingerprint(
    conn: psycopg.Connection, source: str, delivery_id: str
) -> tuple[bool, str | None]:
    """Whether the delivery is already loaded, and the file checksums it was loaded with."""
    row = conn.execute(
        "select files_sha256 from audit.deliveries "
        "where source = %s and delivery_id = %s and status = 'loaded'",
        (source, delivery_id),
    ).fetchone()
    return (row is not None, row[0] if row else None)


def snapshot_in_force(conn: psycopg.Connection, source: str) -> tuple[date, str] | None:
    """(cut-off, delivery id) of the snapshot a snapshot source's raw tables hold now.

    The newest cut-off wins, and between equal cut-offs the greater delivery id (byte order,
    as Python compares): the same order whichever arrived first, so a backlog loaded in any
    order ends the same.
    """
    row = conn.execute(
        """select cutoff_date, delivery_id from audit.deliveries
            where source = %s and status = 'loaded' and cutoff_date is not null
            order by cutoff_date desc, delivery_id collate "C" desc limit 1""",
        (source,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def close_interrupted(conn: psycopg.Connection, source: str) -> int:
    """Mark the source's attempts left 'running' by a dead loader as failed; returns how many.

    Only call it holding the source's lock (`lock_source`): then no live process can own a
    ``running`` row of the source.
    """
    cur = conn.execute(
        """update audit.deliveries
              set status = 'failed', reason = 'interrupted before completion', finished_at = now()
            where source = %s and status = 'running'""",
        (source,),
    )
    return cur.rowcount


def start_attempt(
    conn: psycopg.Connection,
    *,
    source: str,
    delivery_id: str,
    cutoff: date | None,
    manifest_sha256: str | None,
    files_sha256: str | None,
    run_id: str | None,
) -> int:
    row = conn.execute(
        """insert into audit.deliveries
               (source, delivery_id, cutoff_date, manifest_sha256, files_sha256, status,
                airflow_run_id)
           values (%s, %s, %s, %s, %s, 'running', %s) returning attempt_id""",
        (source, delivery_id, cutoff, manifest_sha256, files_sha256, run_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_attempt(
    conn: psycopg.Connection,
    attempt_id: int,
    *,
    status: str,
    reason: str | None = None,
    rows_read: int = 0,
    rows_loaded: int = 0,
    rows_quarantined: int = 0,
) -> None:
    conn.execute(
        """update audit.deliveries
              set status = %s, reason = %s, rows_read = %s, rows_loaded = %s,
                  rows_quarantined = %s, finished_at = now()
            where attempt_id = %s""",
        (
            status,
            scrub(reason) if reason else None,
            rows_read,
            rows_loaded,
            rows_quarantined,
            attempt_id,
        ),
    )


def record_skip(
    conn: psycopg.Connection,
    *,
    source: str,
    delivery_id: str,
    cutoff: date | None,
    manifest_sha256: str | None,
    files_sha256: str | None,
    run_id: str | None,
    reason: str = "already loaded",
) -> None:
    conn.execute(
        """insert into audit.deliveries
               (source, delivery_id, cutoff_date, manifest_sha256, files_sha256, status, reason,
                finished_at, airflow_run_id)
           values (%s, %s, %s, %s, %s, 'skipped', %s, now(), %s)""",
        (source, delivery_id, cutoff, manifest_sha256, files_sha256, reason, run_id),
    )


AUDIT_COLUMNS = (
    "attempt_id",
    "source",
    "delivery_id",
    "cutoff_date",
    "status",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "reason",
    "started_at",
    "finished_at",
    "airflow_run_id",
)


def recent(
    conn: psycopg.Connection, limit: int = 50, source: str | None = None
) -> list[tuple[Any, ...]]:
    query = f"select {', '.join(AUDIT_COLUMNS)} from audit.deliveries"
    params: list[object] = []
    if source:
        query += " where source = %s"
        params.append(source)
    query += " order by attempt_id desc limit %s"
    params.append(limit)
    return conn.execute(query, params).fetchall()
