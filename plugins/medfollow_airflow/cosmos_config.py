"""The marts DAG's dbt task group as Cosmos recommends running it, and the source-freshness
check the DAG runs before dbt builds.

* **Rendered from a manifest.** The DAG is rendered from the dbt manifest
  (``LoadMode.DBT_MANIFEST``) that ``dbt parse`` writes before Airflow parses the DAG files
  (the local runner's prepare step, or the deployment; see dbt/README.md), so parsing a DAG
  file runs no dbt and spawns no process. The manifest is ``$MEDFOLLOW_DBT_MANIFEST``, else
  the project's ``target/manifest.json``; the project path comes from the installed package.
* **The warehouse from the Airflow connection.** dbt's profile is mapped by Cosmos from the
  ``medfollow_warehouse`` connection, like every hook's: nothing reads the warehouse from
  environment variables inside a task, and the password reaches dbt only through the
  variable Cosmos sets for the one invocation.
* **A per-deployment cache.** Cosmos caches profiles and partial-parse files in
  ``[cosmos] cache_dir``; the default is a folder in the system temp directory shared by every
  deployment on the host, so the DAG refuses to load with it (medfollow's environment sets
  ``AIRFLOW__COSMOS__CACHE_DIR`` to ``<state>/cosmos``).
* **A model's task costs little more than its SQL.** dbt runs in-process
  (``InvocationMode.DBT_RUNNER``: no interpreter start-up per task), writes no JSON
  artifacts (the manifest, twice per invocation), and reads the ``partial_parse.msgpack``
  beside the manifest instead of parsing the project (seconds of CPU, times every task of a
  run). ``dbt parse`` leaves one there at build time; as dbt keys it to the warehouse
  connection, the freshness check that opens each run replaces it when the connection's
  warehouse is not the one it was parsed for.
* **The password stays in the one invocation.** Cosmos puts it in ``os.environ`` while dbt
  runs; dbt's first lock then starts Python's multiprocessing resource tracker, a process
  that would inherit it and outlive the invocation (``start_resource_tracker``).
* **Data-test failures are not retried**: the same data fails the same test again.
* **Stable assets.** Each model, seed and snapshot task declares its table as an outlet,
  named logically (``medfollow_airflow.assets``) instead of Cosmos' host-and-port URIs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing.resource_tracker
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    settings,
)
from cosmos.constants import InvocationMode, LoadMode, TestBehavior
from cosmos.dbt.project import environ
from cosmos.profiles import PostgresUserPasswordProfileMapping

from medfollow_airflow.assets import table_asset
from medfollow_core import config
from medfollow_core.errors import MedfollowError

log = logging.getLogger(__name__)

PROFILE_NAME = "medfollow"
TARGET_NAME = "warehouse"
"""dbt's profile and target for every Airflow task. ``dbt parse`` must be given the same
names (``--profile``, ``--target``) for its partial-parse file to be reusable by the tasks."""

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
CACHE_DIR_ENV = "AIRFLOW__COSMOS__CACHE_DIR"


# Cosmos ships no type information: to mypy the base class is Any.
class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):  # type: ignore[misc]
    """The warehouse connection as a dbt profile. A server that trusts local connections
    (the embedded one, a CI database) has no password: dbt is then given an empty one,
    where Cosmos' mapping would refuse the connection."""

    def get_dbt_value(self, name: str) -> Any:
        value = super().get_dbt_value(name)
        return "" if value is None and name == "password" else value


def dbt_task_group(group_id: str) -> DbtTaskGroup:
    """One ``dbt build`` task per model, seed and snapshot (running its own data and unit
    tests; tests spanning several models get tasks of their own), each declaring its table
    as an asset. Call inside the DAG's context."""
    _refuse_shared_cache()
    project = project_config()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=profile_config(),
        execution_config=execution_config(),
        render_config=render_config(),
        operator_args=operator_args(),
    )
    relations = _relations(config.dbt_manifest_path())
    for unique_id, task in group.tasks_map.items():
        if unique_id in relations and isinstance(task, BaseOperator):
            task.outlets = [table_asset(*relations[unique_id])]
    return group


def project_config() -> ProjectConfig:
    manifest = config.dbt_manifest_path()
    if not manifest.is_file():
        raise MedfollowError(
            f"no dbt manifest at {manifest}: run `dbt parse` in {config.DBT_PROJECT_DIR} "
            f"(or set {config.DBT_MANIFEST_ENV}) before Airflow parses the DAGs; see dbt/README.md"
        )
    project = ProjectConfig(dbt_project_path=config.DBT_PROJECT_DIR, manifest_path=manifest)
    # Cosmos wraps the manifest in an ObjectStoragePath, whose first read loads every Airflow
    # plugin (Cosmos' own imports FastAPI): about a second of each DAG-file parse. The
    # manifest is a local file.
    project.manifest_path = manifest
    return project


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=TARGET_NAME,
        profile_mapping=WarehouseProfileMapping(
            conn_id=config.WAREHOUSE_CONN_ID, profile_args={"schema": "marts", "threads": 2}
        ),
    )


def execution_config() -> ExecutionConfig:
    return ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER)


def render_config() -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        # the whole project unless the deployment leaves a part out ($MEDFOLLOW_DBT_EXCLUDE)
        exclude=config.dbt_exclude(),
        # one `dbt build` per model (run, then its tests): half the invocations of
        # run-then-test tasks, and each invocation pays dbt's start-up.
        test_behavior=TestBehavior.BUILD,
        # tests spanning several models (relationships between marts) get a task of their
        # own, run once all their models exist
        should_detach_multiple_parents_tests=True,
        invocation_mode=InvocationMode.DBT_RUNNER,
        # Cosmos would name each table by the warehouse's host and port; dbt_task_group
        # declares logical names instead.
        emit_datasets=False,
    )


def operator_args() -> dict[str, Any]:
    failed_tests = FailedTests()
    return {
        "on_execute_callback": start_resource_tracker,
        "dbt_runner_callbacks": [failed_tests.record],
        "callback": failed_tests.raise_if_any,
        "dbt_cmd_global_flags": _dbt_flags(),
    }


def partial_parse_path() -> Path:
    """Beside the manifest: ``dbt parse`` leaves one there, the freshness check replaces it."""
    return config.dbt_manifest_path().with_name(PARTIAL_PARSE_FILE)


def _dbt_flags() -> list[str]:
    """Global dbt flags for every invocation. No JSON artifacts: dbt would write the whole
    manifest twice per invocation (about two seconds of a model's task), and nothing reads
    them — test results arrive as events (``FailedTests``), assets are declared. And the
    partial-parse file written with the manifest, read from where it is (dbt refuses the
    flag for a file that does not exist, and then parses in full); what dbt writes goes to
    the invocation's own target folder."""
    partial = partial_parse_path()
    reuse = ["--partial-parse-file-path", str(partial)] if partial.is_file() else []
    return ["--no-write-json", *reuse]


def start_resource_tracker(context: object = None) -> None:
    """Start this process's multiprocessing resource tracker now, before any secret is in
    its environment. dbt creates its locks in a "spawn" context, and the first one starts
    the tracker: a new interpreter (exec, not fork) given a copy of ``os.environ`` as it is at
    that moment — inside Cosmos' invocation, with the warehouse password in it — that lives
    as long as the task's process. Started beforehand it holds the environment the task
    started with, and every later lock (and every process forked from this one) reuses it.
    Every dbt task calls it before it runs (``on_execute_callback``), and so does the
    freshness check."""
    multiprocessing.resource_tracker.ensure_running()


class FailedTests:
    """A failed data or unit test fails again on a retry over the same data, so its task
    fails at once (``AirflowFailException``: no retry); any other failure (a lost
    connection, a lock timeout, a model's error) keeps the DAG's retries.

    dbt reports every test result as an event: ``record`` (a dbtRunner callback) keeps the
    failed ones of the invocation under way; ``raise_if_any`` (a Cosmos callback, called after
    every dbt command and before Cosmos turns a failed command into an exception) fails the
    task. One collector serves a process's dbt tasks: dbt runs one invocation at a time."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def record(self, event: Any) -> None:
        if event.info.name == "MainReportVersion":  # the first event of an invocation
            self.failed = []
        elif event.info.name == "LogTestResult" and event.data.status == "fail":
            self.failed.append(event.data.name)

    def raise_if_any(self, project_dir: str, **_: object) -> None:
        failed, self.failed = sorted(self.failed), []
        if failed:
            raise AirflowFailException(
                f"dbt tests failed (not retried: the same data fails them again): {', '.join(failed)}"
            )


def _keep_partial_parse(parsed: Path) -> None:
    """dbt writes a partial-parse file only when it had to parse the project: none was
    beside the manifest, or it was parsed for another warehouse (dbt keys it to the
    connection's host, port, user, database and schema, which ``dbt parse`` at build time may
    not know). Put in its place, it spares every dbt task of the run that parse; where the
    manifest's folder is read-only the tasks parse for themselves."""
    if not parsed.is_file():
        return
    target = partial_parse_path()
    partial = target.with_name(f".{target.name}.partial")
    try:
        shutil.copyfile(parsed, partial)
        os.replace(partial, target)
    except OSError as exc:
        log.warning("could not keep dbt's partial parse at %s (%s)", target, exc)


def _refuse_shared_cache() -> None:
    if settings.enable_cache and Path(settings.cache_dir) == Path(settings.DEFAULT_CACHE_DIR):
        raise MedfollowError(
            f"Cosmos would cache in {settings.DEFAULT_CACHE_DIR}, shared by every deployment on "
            f"this host: set {CACHE_DIR_ENV} to a folder of this deployment "
            "(medfollow's environment sets <state>/cosmos)"
        )


def _relations(manifest: Path) -> dict[str, tuple[str, str]]:
    """(schema, table) of every model, seed and snapshot that dbt materialises."""
    nodes = json.loads(manifest.read_text())["nodes"]
    return {
        unique_id: (node["schema"], node["alias"])
        for unique_id, node in nodes.items()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and node["config"].get("materialized") != "ephemeral"
    }


def check_source_freshness() -> list[str]:
    """``dbt source freshness`` over every source with a freshness policy (dbt/models/staging/
    */_*__sources.yml), in-process, on the warehouse of the Airflow connection. Raises naming
    every source past its ``error_after`` (or that could not be checked) and how long ago it
    was last loaded; sources past ``warn_after`` only are logged. Returns one line per source
    checked. Runs first in the marts DAG, so it also leaves the partial parse the run's dbt
    tasks read (``_keep_partial_parse``)."""
    from dbt.cli.main import dbtRunner

    start_resource_tracker()
    with (
        profile_config().ensure_profile() as (profile, secrets),
        environ(secrets),
        tempfile.TemporaryDirectory(prefix="medfollow-freshness-") as work,
    ):
        result = dbtRunner().invoke(
            [
                *_dbt_flags(),
                "source",
                "freshness",
                "--project-dir",
                str(config.DBT_PROJECT_DIR),
                "--profiles-dir",
                str(profile.parent),
                "--profile",
                PROFILE_NAME,
                "--target",
                TARGET_NAME,
                "--target-path",
                str(Path(work) / "target"),
                "--log-path",
                str(Path(work) / "logs"),
            ]
        )
        _keep_partial_parse(Path(work) / "target" / PARTIAL_PARSE_FILE)
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
