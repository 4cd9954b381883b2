"""The environment Airflow and dbt run in, derived from the configured warehouse DSN.

Airflow reads its configuration from ``AIRFLOW__*`` variables and its connections from
``AIRFLOW_CONN_*`` variables, so a project-local Airflow needs no ``airflow.cfg`` edits and
no secrets written to disk: the warehouse connection is created from the DSN each time.
This must run before ``airflow`` is imported, because Airflow reads its settings at import.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from medfollow_core import config
from medfollow_core.warehouse.connection import dsn_parts


def airflow_home() -> Path:
    home = config.state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return home


def platform_env(url: str) -> dict[str, str]:
    """Variables that point Airflow, Cosmos and dbt at this project and this warehouse."""
    home = airflow_home()
    parts = dsn_parts(url)
    connection = {
        "conn_type": "postgres",
        "host": parts["host"],
        "port": int(parts["port"]),
        "login": parts["user"],
        "password": parts["password"],
        "schema": parts["dbname"],
    }
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
        # SQLite metadata is fine for a laptop and for dag.test(); production sets its own.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"
        ),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        f"AIRFLOW_CONN_{config.WAREHOUSE_CONN_ID.upper()}": json.dumps(connection),
        # Nothing phones home: health data platforms run without outbound internet.
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "GX_ANALYTICS_ENABLED": "False",
        # The same DSN for code that runs outside an Airflow task (CLI, tests, dbt CLI).
        "MEDFOLLOW_DATABASE_URL": url,
        "MEDFOLLOW_WH_HOST": parts["host"],
        "MEDFOLLOW_WH_PORT": parts["port"],
        "MEDFOLLOW_WH_USER": parts["user"],
        "MEDFOLLOW_WH_PASSWORD": parts["password"],
        "MEDFOLLOW_WH_DBNAME": parts["dbname"],
    }


def apply(url: str) -> dict[str, str]:
    """Export the platform environment into this process (before importing airflow)."""
    env = platform_env(url)
    os.environ.update(env)
    return env
