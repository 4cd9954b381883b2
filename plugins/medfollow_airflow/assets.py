"""Airflow assets for warehouse tables, named so that downstream DAGs can wait on them.

An asset names a table logically — ``medfollow.<schema>.<table>``, URI
``medfollow://warehouse/<schema>/<table>`` — never by the server it lives on: moving the
warehouse to another host or port (or the embedded server picking another port) must not
rename every asset, orphan its event history and break the schedules that wait on it. One
Airflow deployment serves one warehouse, so the logical name is unambiguous. The ingest
tasks, linkage, the variant release and every dbt layer task (``cosmos_config``) name their
tables through this one function.
"""

from __future__ import annotations

from airflow.sdk import Asset

SCHEME = "medfollow"


def table_asset(schema: str, table: str) -> Asset:
    return Asset(name=f"{SCHEME}.{schema}.{table}", uri=f"{SCHEME}://warehouse/{schema}/{table}")
