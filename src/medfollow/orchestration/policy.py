"""Airflow cluster policy of this project: every dbt task runs in the ``dbt`` pool.

dbt is CPU-bound, sensors and loads mostly wait; a deployment therefore runs many task
slots (``--parallelism``) but only as many dbt invocations at once as the pool has slots
(``--dbt-slots``). Applied where DAGs are parsed, registered through the ``airflow.policy``
entry point (pyproject.toml), so no DAG file or Cosmos setting has to remember it."""

from __future__ import annotations

from typing import Any

from airflow.policies import hookimpl

from medfollow.orchestration.runner import DBT_POOL

_COSMOS_BASE = "AbstractDbtBase"
"""Cosmos' base class of every dbt operator (named, not imported: the scheduler and the API
server load this module too, and need not import Cosmos for it)."""


@hookimpl
def task_policy(task: Any) -> None:
    if any(cls.__name__ == _COSMOS_BASE for cls in type(task).__mro__):
        task.pool = DBT_POOL
