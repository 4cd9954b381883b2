"""The warehouse as Airflow sees it: a connection and a secret, nothing more.

Both come from Airflow's secrets-backend chain — the local file backend medfollow writes by
default (``medfollow.orchestration.secrets``), or Vault or a cloud secret manager in a
deployment that configures one — so no password or key travels in a process environment.
A task on a Celery worker without a backend of its own gets them from the API server.
"""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseHook, Variable

from medfollow_core.config import PSEUDONYM_SECRET_VARIABLE, WAREHOUSE_CONN_ID
from medfollow_core.pseudonymise import load_key


class WarehouseHook(BaseHook):
    """DSN from the ``medfollow_warehouse`` connection; the pseudonymisation key from the
    Airflow variable ``medfollow_pseudonym_secret``, else the environment, else the local key
    file (for ``dag.test()`` runs without a backend) — the same checks as the CLI
    (``load_key``)."""

    conn_name_attr = "warehouse_conn_id"
    default_conn_name = WAREHOUSE_CONN_ID
    conn_type = "postgres"
    hook_name = "medfollow warehouse"

    def __init__(self, warehouse_conn_id: str = WAREHOUSE_CONN_ID) -> None:
        super().__init__()
        self.warehouse_conn_id = warehouse_conn_id

    def dsn(self) -> str:
        conn = self.get_connection(self.warehouse_conn_id)
        auth = quote(conn.login or "postgres", safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        return f"postgresql://{auth}@{conn.host}:{conn.port or 5432}/{conn.schema or 'postgres'}"

    def pseudonym_key(self) -> bytes:
        secret = Variable.get(PSEUDONYM_SECRET_VARIABLE, default=None)
        return load_key(secret, origin=f"Airflow variable {PSEUDONYM_SECRET_VARIABLE}")
