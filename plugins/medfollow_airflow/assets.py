"""Airflow assets for warehouse tables, named so that downstream DAGs can wait on them.

URIs follow the postgres provider's scheme, the same one Cosmos uses for dbt models (``postgres://host:port/database/schema/table``)
and are built from the configured warehouse DSN; the embedded server keeps a stable port
for this reason.
"""

from __future__ import annotations

import os

from airflow.sdk import Asset

from medfollow_core.warehouse.connection import dsn_parts

_FALLBACK_DSN = "postgresql://postgres@127.0.0.1:5432/medfollow"


def table_asset(schema: str, table: str) -> Asset:
    parts = dsn_parts(os.environ.get("MEDFOLLOW_DATABASE_URL", _FALLBACK_DSN))
    uri = f"postgres://{parts['host']}:{parts['port']}/{parts['dbname']}/{schema}/{table}"
    # The URI is the identity (and the name): Airflow treats two assets sharing a name but
    # not a URI as a conflict, and one warehouse's raw.x is not another's.
    return Asset(uri=uri)
