"""Create the warehouse's schemas and platform tables from ``infra/warehouse/*.sql``.

The SQL files are idempotent (``if not exists``) and applied in name order on every start,
so a new file is all it takes to evolve the platform tables; there is no migration state to
drift.
"""

from __future__ import annotations

from medfollow_core import config
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
