"""One answer to "which warehouse?" for the CLI, the DAGs, dbt and the tests.

``MEDFOLLOW_DATABASE_URL`` wins; otherwise the embedded server under the state directory is
started on demand. Everything downstream receives a plain libpq DSN.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.embedded import EmbeddedPostgres


def embedded_server() -> EmbeddedPostgres:
    return EmbeddedPostgres(config.state_dir() / "warehouse" / "pgdata")


def database_url(*, start: bool = True) -> str:
    """The warehouse DSN, starting the embedded server if none is configured."""
    configured = config.configured_database_url()
    if configured:
        return configured
    server = embedded_server()
    status = server.start() if start else server.status()
    if status.url is None:
        raise MedfollowError("the embedded warehouse is not running (start it: medfollow db start)")
    return status.url


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse; committed on success, rolled back on error."""
    try:
        conn = psycopg.connect(url or database_url(), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise MedfollowError(f"cannot connect to the warehouse: {_first_line(exc)}") from None
    with conn:
        yield conn


def dsn_parts(url: str) -> dict[str, str]:
    """Split a DSN into host/port/user/password/dbname for dbt profiles and Airflow."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": (parts.path or "/").lstrip("/") or "postgres",
    }


def redact(url: str) -> str:
    """The DSN with any password masked, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = ["connect", "database_url", "dsn_parts", "embedded_server", "redact"]
