"""The environment Airflow and dbt run in, derived from the configured warehouse DSN.

Airflow reads its configuration from ``AIRFLOW__*`` variables, so a project-local Airflow
needs no ``airflow.cfg`` edits. Secrets are not among them: the warehouse connection and the
pseudonymisation key reach Airflow through its secrets backend (``secrets.py``). This must
run before ``airflow`` is imported, because Airflow reads its settings at import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from medfollow.orchestration import secrets
from medfollow_core import config
from medfollow_core.pseudonymise import KEY_ENV
from medfollow_core.warehouse.connection import dsn_parts

METADATA_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
SECRET_VARIABLES = (KEY_ENV, "MEDFOLLOW_WH_PASSWORD")
"""Variables a service process must not inherit: their values reach tasks from the backend."""


def airflow_home() -> Path:
    home = config.state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return home


def dag_test_metadata() -> str:
    """The metadata database for ``dag.test()`` runs: the configured one, else SQLite in the
    Airflow home. One process writes it at a time, which is all SQLite supports; the
    services (``services.py``) always run on PostgreSQL."""
    return os.environ.get(METADATA_ENV) or f"sqlite:///{airflow_home() / 'airflow.db'}"


def airflow_env() -> dict[str, str]:
    """What every Airflow process of this project needs, warehouse or not (a Celery worker
    on another machine gets only this, the API's address and the broker)."""
    home = airflow_home()
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        # dbt, airflow and psql-free tools live beside this interpreter; venvs are rarely
        # activated, and Cosmos looks dbt up on PATH.
        "PATH": path if path.split(os.pathsep)[0] == bin_dir else f"{bin_dir}{os.pathsep}{path}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # Cosmos' cache (profiles, partial parses) belongs to this deployment, not to the
        # system temp directory every deployment on the host shares.
        "AIRFLOW__COSMOS__CACHE_DIR": str(config.state_dir() / "cosmos"),
        # Nothing phones home: health data platforms run without outbound internet.
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "GX_ANALYTICS_ENABLED": "False",
    }


def platform_env(url: str, *, metadata: str | None = None) -> dict[str, str]:
    """Variables that point Airflow, Cosmos and dbt at this project and this warehouse; the
    secrets backend's files are (re)written for ``url`` on the way."""
    parts = dsn_parts(url)
    return (
        airflow_env()
        | secrets.setting_env(METADATA_ENV, metadata or dag_test_metadata())
        | secrets.backend_env(url)
        | {
            # The same DSN for code that runs outside an Airflow task (CLI, tests, dbt CLI);
            # service processes get it without its password (service_env).
            "MEDFOLLOW_DATABASE_URL": url,
            # dbt's profiles.yml reads these when dbt runs outside a task (parse, docs,
            # tests); service processes get them without the password (service_env)
            "MEDFOLLOW_WH_HOST": parts["host"],
            "MEDFOLLOW_WH_PORT": parts["port"],
            "MEDFOLLOW_WH_USER": parts["user"],
            "MEDFOLLOW_WH_PASSWORD": parts["password"],
            "MEDFOLLOW_WH_DBNAME": parts["dbname"],
        }
    )


def apply(url: str, *, metadata: str | None = None) -> dict[str, str]:
    """Export the platform environment into this process (before importing airflow)."""
    env = platform_env(url, metadata=metadata)
    if METADATA_ENV + "_CMD" in env:
        os.environ.pop(METADATA_ENV, None)  # a plain value would win over the _CMD form
    os.environ.update(env)
    return env


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment and ``extra`` for a service child, without any secret: no
    key, no password (the DSN goes without it), no ``AIRFLOW_CONN_*`` connection."""
    env = {
        k: v
        for k, v in (os.environ | (extra or {})).items()
        if k not in SECRET_VARIABLES and not k.startswith("AIRFLOW_CONN_")
    }
    if "MEDFOLLOW_DATABASE_URL" in env:
        env["MEDFOLLOW_DATABASE_URL"] = secrets.without_password(env["MEDFOLLOW_DATABASE_URL"])
    return env
