"""``audit.deliveries``: one row per delivery attempt, whatever its fate.

An attempt row is committed as ``running`` before any data moves, and its final status is
written in the same transaction that makes the data visible; so the table can never claim a
load that did not happen. A loader killed mid-load leaves its row ``running``; the next
attempt, holding the delivery's advisory lock, knows that row is stale and marks it failed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from medfollow_core.errors import scrub


def lock_delivery(conn: psycopg.Connection, source: str, delivery_id: str) -> bool:
    """Session-level advisory lock so one delivery is loaded by one process at a time."""
    row = conn.execute(
        "select pg_try_advisory_lock(hashtext('medfollow.delivery'), hashtext(%s))",
        (f"{source}/{delivery_id}",),
    ).fetchone()
    return bool(row and row[0])


def already_loaded(conn: psycopg.Connection, source: str, delivery_id: str) -> bool:
    row = conn.execute(
        "select 1 from audit.deliveries where source = %s and delivery_id = %s and status = 'loaded'",
        (source, delivery_id),
    ).fetchone()
    return row is not None


def latest_loaded_cutoff(conn: psycopg.Connection, source: str) -> date | None:
    row = conn.execute(
        "select max(cutoff_date) from audit.deliveries where source = %s and status = 'loaded'",
        (source,),
    ).fetchone()
    return row[0] if row else None


def close_interrupted(conn: psycopg.Connection, source: str, delivery_id: str) -> int:
    """Mark attempts left 'running' by a dead loader as failed; returns how many."""
    cur = conn.execute(
        """update audit.deliveries
              set status = 'failed', reason = 'interrupted before completion', finished_at = now()
            where source = %s and delivery_id = %s and status = 'running'""",
        (source, delivery_id),
    )
    return cur.rowcount


def start_attempt(
    conn: psycopg.Connection,
    *,
    source: str,
    delivery_id: str,
    cutoff: date | None,
    manifest_sha256: str | None,
    run_id: str | None,
) -> int:
    row = conn.execute(
        """insert into audit.deliveries
               (source, delivery_id, cutoff_date, manifest_sha256, status, airflow_run_id)
           values (%s, %s, %s, %s, 'running', %s) returning attempt_id""",
        (source, delivery_id, cutoff, manifest_sha256, run_id),
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
    run_id: str | None,
    reason: str = "already loaded",
) -> None:
    conn.execute(
        """insert into audit.deliveries
               (source, delivery_id, cutoff_date, manifest_sha256, status, reason, finished_at,
                airflow_run_id)
           values (%s, %s, %s, %s, 'skipped', %s, now(), %s)""",
        (source, delivery_id, cutoff, manifest_sha256, reason, run_id),
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
