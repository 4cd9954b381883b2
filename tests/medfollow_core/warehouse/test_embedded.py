"""The embedded warehouse: starts on 127.0.0.1 with a stable port, psql accepts its DSN."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from medfollow_core.warehouse.bootstrap import bootstrap
from medfollow_core.warehouse.embedded import EmbeddedPostgres, bundled_binary

pytestmark = pytest.mark.integration


def test_start_status_stop_and_stable_port(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pgdata")
    assert not server.status().running
    first = server.start()
    try:
        assert (
            first.running and first.url and first.url.startswith("postgresql://postgres@127.0.0.1:")
        )
        assert server.start() == first  # starting twice is a no-op
        with psycopg.connect(first.url) as conn:
            assert conn.execute("select current_database()").fetchone() == ("medfollow",)
        assert server.stop()
        assert not server.status().running
        again = server.start()
        assert again.port == first.port  # clients and asset URIs keep working across restarts
    finally:
        server.stop()
    assert not server.stop()


def test_psql_accepts_the_dsn_and_sees_the_schemas(db_url: str) -> None:
    out = subprocess.run(
        [str(bundled_binary("psql")), db_url, "-Atc", r"\dn"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    schemas = {line.split("|")[0] for line in out.splitlines()}
    assert {"raw", "quarantine", "audit", "linkage", "marts", "exports", "variants"} <= schemas


def _catalog(conn: psycopg.Connection) -> list[tuple]:
    """Every column, index and constraint in the platform schemas, for comparing states."""
    return conn.execute(
        """select 'column', table_schema || '.' || table_name, column_name,
                  data_type || coalesce(column_default, '')
             from information_schema.columns
            where table_schema in ('raw', 'quarantine', 'audit', 'linkage', 'marts',
                                   'exports', 'variants')
           union all
           select 'index', schemaname || '.' || tablename, indexname, indexdef
             from pg_indexes
            where schemaname in ('audit', 'linkage', 'variants')
           union all
           select 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid)
             from pg_constraint
            where connamespace::regnamespace::text in ('audit', 'linkage', 'variants')
           order by 1, 2, 3"""
    ).fetchall()


def test_bootstrap_again_keeps_data_and_changes_no_table(db_url: str) -> None:
    """The db_url fixture has bootstrapped once; a second run (every DAG and CLI start does
    one) must neither fail, drop a row, nor alter a table."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            """insert into audit.deliveries (source, delivery_id, status, reason)
               values ('cpr', 'cpr-bootstrap-test', 'loaded', 'kept across bootstrap')"""
        )
        before = _catalog(conn)
    assert len({table for kind, table, *_ in before if kind == "column"}) >= 10
    applied = bootstrap(db_url)
    assert applied, "bootstrap applied no file"
    with psycopg.connect(db_url) as conn:
        assert _catalog(conn) == before
        kept = conn.execute(
            "select reason from audit.deliveries where delivery_id = 'cpr-bootstrap-test'"
        ).fetchall()
    assert kept == [("kept across bootstrap",)]
