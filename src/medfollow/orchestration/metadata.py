"""Airflow's metadata database for the services: PostgreSQL, a database of its own.

SQLite cannot take the scheduler, DAG processor, triggerer and API server writing at once
("database is locked" within seconds of unpausing), so the services always run on
PostgreSQL. By default that is a database ``airflow`` on the warehouse's server (the
embedded one on a laptop), created when missing; a deployment names its own with
``MEDFOLLOW_AIRFLOW_DATABASE_URL`` (a libpq URL; created when missing too) or Airflow's own
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (used exactly as given).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.bootstrap import ensure_database

METADATA_URL_ENV = "MEDFOLLOW_AIRFLOW_DATABASE_URL"
AIRFLOW_SQLALCHEMY_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
DEFAULT_DATABASE = "airflow"


def metadata_url(warehouse_url: str) -> str:
    """The SQLAlchemy URL of the services' metadata database (created if we name it)."""
    given = os.environ.get(AIRFLOW_SQLALCHEMY_ENV)
    if given:
        if given.startswith("sqlite"):
            raise MedfollowError(
                f"{AIRFLOW_SQLALCHEMY_ENV} names SQLite: the Airflow services need PostgreSQL "
                f"(unset it to use a database '{DEFAULT_DATABASE}' beside the warehouse)"
            )
        return given
    url = os.environ.get(METADATA_URL_ENV) or _beside(warehouse_url, DEFAULT_DATABASE)
    ensure_database(url)
    return sqlalchemy_url(url)


def libpq_url(sqlalchemy: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq understands it (drops ``+driver``)."""
    scheme, rest = sqlalchemy.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def sqlalchemy_url(url: str) -> str:
    """A libpq URL as SQLAlchemy needs it for Airflow (the psycopg2 driver)."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgres", "postgresql"):
        raise MedfollowError(f"{METADATA_URL_ENV} must be a PostgreSQL URL, not {scheme}://")
    return f"postgresql+psycopg2://{rest}"


def _beside(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()
