"""The project's Airflow cluster policy, through the entry point Airflow itself loads."""

from __future__ import annotations

from airflow import settings
from airflow.providers.standard.operators.empty import EmptyOperator
from cosmos import ProfileConfig
from cosmos.operators.local import DbtBuildLocalOperator, DbtTestLocalOperator

from medfollow.orchestration.runner import DBT_POOL
from medfollow_core import config


def test_dbt_tasks_run_in_the_dbt_pool_and_nothing_else_does() -> None:
    profile = ProfileConfig(
        profile_name="medfollow",
        target_name="warehouse",
        profiles_yml_filepath=config.DBT_PROJECT_DIR / "profiles.yml",
    )
    project = str(config.DBT_PROJECT_DIR)
    build = DbtBuildLocalOperator(task_id="build", project_dir=project, profile_config=profile)
    test = DbtTestLocalOperator(task_id="test", project_dir=project, profile_config=profile)
    other = EmptyOperator(task_id="other")
    for task in (build, test, other):
        settings.task_policy(task)  # what the DAG processor applies to every parsed task
    assert (build.pool, test.pool) == (DBT_POOL, DBT_POOL)
    assert other.pool != DBT_POOL
