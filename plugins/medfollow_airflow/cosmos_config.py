"""Cosmos configuration for the medfollow dbt project.

The project path is derived from the installed package (never from the working directory),
dbt runs in-process (``InvocationMode.DBT_RUNNER``) to avoid a subprocess per model, and the
profile is the project's ``profiles.yml``, which reads the warehouse from the environment
medfollow derives from its configured DSN.
"""

from __future__ import annotations

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from medfollow_core import config


def project_config() -> ProjectConfig:
    return ProjectConfig(dbt_project_path=config.DBT_PROJECT_DIR)


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="medfollow",
        target_name="warehouse",
        profiles_yml_filepath=config.DBT_PROJECT_DIR / "profiles.yml",
    )


def execution_config() -> ExecutionConfig:
    return ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER)


def render_config(select: list[str] | None = None) -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_LS,
        select=select or [],
        # one `dbt build` per model (run, then its tests): half the invocations of
        # run-then-test tasks, and each invocation pays dbt's start-up.
        test_behavior=TestBehavior.BUILD,
        # tests spanning several models (relationships between marts) get a task of their
        # own, run once all their models exist
        should_detach_multiple_parents_tests=True,
        invocation_mode=InvocationMode.DBT_RUNNER,
    )
