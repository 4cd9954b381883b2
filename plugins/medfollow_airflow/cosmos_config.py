"""Cosmos configuration for the medfollow dbt project, and the source-freshness check the
marts DAG runs before dbt builds.

The DAG is rendered from a dbt manifest (``LoadMode.DBT_MANIFEST``) built before Airflow
parses the DAG files (``dbt parse``: the local runner's prepare step, or the deployment; see
dbt/README.md), so that parsing a DAG file runs no dbt and spawns no process. The manifest
is ``$MEDFOLLOW_DBT_MANIFEST``, else the project's ``target/manifest.json``. The project
path is derived from the installed package (never from the working directory), dbt runs
in-process (``InvocationMode.DBT_RUNNER``) to avoid a subprocess per model, and the profile
is the project's ``profiles.yml``, which reads the warehouse from the environment medfollow
derives from its configured DSN.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from medfollow_core import config
from medfollow_core.errors import MedfollowError

log = logging.getLogger(__name__)


def project_config() -> ProjectConfig:
    manifest = config.dbt_manifest_path()
    if not manifest.is_file():
        raise MedfollowError(
            f"no dbt manifest at {manifest}: run `dbt parse` in {config.DBT_PROJECT_DIR} "
            f"(or set {config.DBT_MANIFEST_ENV}) before Airflow parses the DAGs; see dbt/README.md"
        )
    return ProjectConfig(dbt_project_path=config.DBT_PROJECT_DIR, manifest_path=manifest)


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
        load_method=LoadMode.DBT_MANIFEST,
        select=select or [],
        # one `dbt build` per model (run, then its tests): half the invocations of
        # run-then-test tasks, and each invocation pays dbt's start-up.
        test_behavior=TestBehavior.BUILD,
        # tests spanning several models (relationships between marts) get a task of their
        # own, run once all their models exist
        should_detach_multiple_parents_tests=True,
        invocation_mode=InvocationMode.DBT_RUNNER,
    )


def check_source_freshness() -> list[str]:
    """``dbt source freshness`` over every source with a freshness policy (dbt/models/staging/
    */_*__sources.yml), in-process. Raises naming every source past its ``error_after`` (or
    that could not be checked) and how long ago it was last loaded; sources past
    ``warn_after`` only are logged. Returns one line per source checked."""
    from dbt.cli.main import dbtRunner

    project = str(config.DBT_PROJECT_DIR)
    with tempfile.TemporaryDirectory(prefix="medfollow-freshness-") as work:
        result = dbtRunner().invoke(
            [
                "source",
                "freshness",
                "--project-dir",
                project,
                "--profiles-dir",
                project,
                "--target-path",
                str(Path(work) / "target"),
                "--log-path",
                str(Path(work) / "logs"),
            ]
        )
    checked = getattr(result.result, "results", None)
    if checked is None:
        raise MedfollowError(f"dbt source freshness did not run: {result.exception}")
    lines, stale = [], []
    for outcome in checked:
        node = outcome.node
        name = f"{node.source_name}.{node.name}"
        status = str(outcome.status)
        age = getattr(outcome, "age", None)
        loaded = f"last loaded {age / 86400:.1f} days ago" if age is not None else "not checked"
        limits = node.freshness
        policy = ", ".join(
            f"{kind} after {limit.count} {limit.period}s"
            for kind, limit in (("warn", limits.warn_after), ("error", limits.error_after))
            if limit is not None and limit.count is not None and limit.period is not None
        )
        line = f"{name}: {status}, {loaded} ({policy or 'no limits'})"
        lines.append(line)
        if status == "error":
            stale.append(line)
        elif status == "runtime error":
            stale.append(f"{name}: could not be checked ({outcome.message})")
        elif status == "warn":
            log.warning("stale source %s", line)
    if stale:
        raise MedfollowError("stale sources, not building the marts: " + "; ".join(stale))
    if not result.success:
        raise MedfollowError(f"dbt source freshness failed: {result.exception}")
    log.info("source freshness:\n%s", "\n".join(lines))
    return lines
