"""Where things live and which warehouse to use.

Everything that varies between a laptop and a production deployment is read here, from the
environment, so that the CLI, the DAGs and the tests agree on one answer:

* ``MEDFOLLOW_DATABASE_URL`` — an existing PostgreSQL; unset means the embedded server.
* ``MEDFOLLOW_STATE_DIR`` — project-local state (embedded warehouse, Airflow home, demo data);
  default ``<project>/.state``.
* ``MEDFOLLOW_SHARED_ROOT`` — what every task needs, wherever it runs: the landing area, the
  variant store, releases and validation output. A mounted path (NFS, SMB, a cluster file
  system) when Celery workers sit on other machines; default the state directory. Each of
  them can still be moved alone by its own variable (``MEDFOLLOW_LANDING_DIR``, ...).
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
"""The Airflow connection id of the warehouse, from the secrets backend: the local runner
writes it from the DSN, the Airflow adapters read it."""


PSEUDONYM_SECRET_VARIABLE = "medfollow_pseudonym_secret"
"""The Airflow variable holding the pseudonymisation key (hex), from the secrets backend: the
local runner writes it to the local backend's file, the Airflow adapters read it."""


DBT_MANIFEST_ENV = "MEDFOLLOW_DBT_MANIFEST"
"""Where the dbt manifest the marts DAG is rendered from lives (written by ``dbt parse``)."""


def dbt_manifest_path() -> Path:
    """The dbt manifest: ``$MEDFOLLOW_DBT_MANIFEST``, else the project's ``target/manifest.json``."""
    configured = os.environ.get(DBT_MANIFEST_ENV)
    return Path(configured) if configured else DBT_PROJECT_DIR / "target" / "manifest.json"


DBT_EXCLUDE_ENV = "MEDFOLLOW_DBT_EXCLUDE"


def dbt_exclude() -> list[str]:
    """dbt node selectors the marts DAG leaves out (``$MEDFOLLOW_DBT_EXCLUDE``, separated by
    spaces, dbt's syntax); empty: none. For a deployment without part of the platform, e.g.
    without genomes: ``path:models/marts/pgx path:models/intermediate/pgx ...``. Exclude
    whole folders with their seeds: a model's tests live in its folder and go with it
    (selecting a part instead keeps tests of models outside it, which then fail). The DAG
    processor and every worker must be given the same value."""
    return os.environ.get(DBT_EXCLUDE_ENV, "").split()


def state_dir() -> Path:
    """The project-local state directory (created on first use)."""
    path = Path(os.environ.get("MEDFOLLOW_STATE_DIR", PROJECT_ROOT / ".state")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


SHARED_ROOT_ENV = "MEDFOLLOW_SHARED_ROOT"
LANDING_DIR_ENV = "MEDFOLLOW_LANDING_DIR"
RELEASE_DIR_ENV = "MEDFOLLOW_RELEASE_DIR"
VARIANT_STORE_ENV = "MEDFOLLOW_VARIANTS_STORE"
VALIDATION_DIR_ENV = "MEDFOLLOW_VALIDATION_DIR"


def shared_root() -> Path:
    """The root every worker sees: ``$MEDFOLLOW_SHARED_ROOT``, else the state directory.

    Nothing a task reads or writes outside the warehouse may live on one machine's disk
    once tasks run on Celery workers elsewhere, so these folders hang off one mount."""
    configured = os.environ.get(SHARED_ROOT_ENV)
    return Path(configured).resolve() if configured else state_dir()


def _shared(env: str, name: str) -> Path:
    configured = os.environ.get(env)
    return Path(configured).resolve() if configured else shared_root() / name


def landing_dir() -> Path:
    """Where deliveries arrive: ``$MEDFOLLOW_LANDING_DIR``, else ``<shared root>/landing``."""
    return _shared(LANDING_DIR_ENV, "landing")


def release_dir() -> Path:
    """Where releases are written: ``$MEDFOLLOW_RELEASE_DIR``, else ``<shared root>/releases``."""
    return _shared(RELEASE_DIR_ENV, "releases")


def variant_store_dir() -> Path:
    """The variant store: ``$MEDFOLLOW_VARIANTS_STORE``, else ``<shared root>/variants``."""
    return _shared(VARIANT_STORE_ENV, "variants")


def validation_dir() -> Path:
    """Great Expectations projects and Data Docs per delivery: ``$MEDFOLLOW_VALIDATION_DIR``,
    else ``<shared root>/gx``."""
    return _shared(VALIDATION_DIR_ENV, "gx")


def configured_database_url() -> str | None:
    """The DSN of an external warehouse, or None to use the embedded one."""
    return os.environ.get("MEDFOLLOW_DATABASE_URL") or None
