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


def test_bootstrap_is_idempotent(db_url: str) -> None:
    assert bootstrap(db_url) == bootstrap(db_url)
