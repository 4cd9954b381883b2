"""Create the warehouse's schemas and platform tables from ``infra/warehouse/*.sql``.

The SQL files are idempotent (``if not exists``) and applied in name order on every start,
so a new file is all it takes to evolve the platform tables; there is no migration state to
drift.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.connection import connect

SQL_DIR = config.PROJECT_ROOT / "infra" / "warehouse"


def bootstrap(url: str) -> list[str]:
    """Apply every bootstrap file to the warehouse at ``url``; returns the files applied."""
    applied = []
    with connect(url) as conn:
        # Serialise concurrent bootstraps (parallel tests, a DAG and the CLI at once).
        conn.execute("select pg_advisory_xact_lock(hashtext('medfollow.bootstrap'))")
        for path in sorted(SQL_DIR.glob("*.sql")):
            conn.execute(path.read_text(encoding="utf-8"))
            applied.append(path.name)
    return applied


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names on its server if it does not exist (Airflow's
    metadata database beside the warehouse); returns whether it was created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                return False
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        return False  # created by a concurrent start
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MedfollowError(f"cannot create database {name}: {first}") from None
    return True
