"""Celery settings of medfollow's workers: Airflow's defaults, plus one module imported by
each worker before it forks its pool.

Every Airflow task runs in a process forked from a pool process of the worker, and a dbt
task imports dbt's runner and Cosmos' operators before it can run a line of SQL, an ingest
task Great Expectations: seconds of CPU per task, paid again by every task of a monthly
round. Imported once in the worker (Celery's ``imports``), they are already loaded in every
forked task.
``medfollow airflow`` points ``[celery] celery_config_options`` here.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOAD_MODULE = "medfollow_airflow.preload"

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    "imports": [*DEFAULT_CELERY_CONFIG.get("imports", ()), PRELOAD_MODULE],
}
