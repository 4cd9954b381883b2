"""Where things live and which warehouse to use.

Everything that varies between a laptop and a production deployment is read here, from the
environment, so that the CLI, the DAGs and the tests agree on one answer:

* ``MEDFOLLOW_DATABASE_URL`` — an existing PostgreSQL; unset means the embedded server.
* ``MEDFOLLOW_STATE_DIR`` — project-local state (embedded warehouse, Airflow home, demo data);
  default ``<project>/.state``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


WAREHOUSE_CONN_ID = "medfollow_warehouse"
"""The Airflow connection id of the warehouse: the local runner creates it from the DSN, the
Airflow adapters read it."""


DBT_MANIFEST_ENV = "MEDFOLLOW_DBT_MANIFEST"
"""Where the dbt manifest the marts DAG is rendered from lives (written by ``dbt parse``)."""


def dbt_manifest_path() -> Path:
    """The dbt manifest: ``$MEDFOLLOW_DBT_MANIFEST``, else the project's ``target/manifest.json``."""
    configured = os.environ.get(DBT_MANIFEST_ENV)
    return Path(configured) if configured else DBT_PROJECT_DIR / "target" / "manifest.json"


def state_dir() -> Path:
    """The project-local state directory (created on first use)."""
    path = Path(os.environ.get("MEDFOLLOW_STATE_DIR", PROJECT_ROOT / ".state")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def configured_database_url() -> str | None:
    """The DSN of an external warehouse, or None to use the embedded one."""
    return os.environ.get("MEDFOLLOW_DATABASE_URL") or None
