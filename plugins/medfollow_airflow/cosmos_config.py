"""The marts DAG's dbt tasks as Cosmos runs them, and the source-freshness check the DAG
runs before dbt builds.

* **One ``dbt build`` per layer.** seeds → staging → intermediate → marts (with the
  snapshot) → exports: five Cosmos ``DbtBuildLocalOperator`` tasks, each building its
  folder's models and running their unit and data tests, instead of a task per model.
  Measured under a real scheduler on 2 cores, a model's task cost about a minute for
  seconds of SQL (5.5 s re-parsing the DAG file, dbt's start-up, the task's process), paid
  by each of some 120 models every month; a layer pays it once. dbt orders a layer's
  models itself (a failing model skips its descendants there); a failed layer stops the
  layers after it and the release. A model sits in the
  folder of the last layer it reads (checked in tests), so each layer finds every input
  built; a test runs in the layer of its last parent (``--indirect-selection buildable``).
* **Rendered from a manifest.** The layers' outlets come from the dbt manifest that
  ``dbt parse`` writes before Airflow parses the DAG files (the local runner's prepare step,
  or the deployment; see dbt/README.md), so parsing a DAG file runs no dbt and spawns no
  process. The manifest is ``$MEDFOLLOW_DBT_MANIFEST``, else the project's
  ``target/manifest.json``; the project path comes from the installed package.
* **The warehouse from the Airflow connection.** dbt's profile is mapped by Cosmos from the
  ``medfollow_warehouse`` connection, like every hook's: nothing reads the warehouse from
  environment variables inside a task, and the password reaches dbt only through the
  variable Cosmos sets for the one invocation.
* **The password stays in the one invocation.** Cosmos puts it in ``os.environ`` while dbt
  runs; dbt's first lock then starts Python's multiprocessing resource tracker, a process
  that would inherit it and outlive the invocation (``start_resource_tracker``).
* **A per-deployment cache.** Cosmos caches profiles and partial-parse files in
  ``[cosmos] cache_dir``; the default is a folder in the system temp directory shared by every
  deployment on the host, so the DAG refuses to load with it (medfollow's environment sets
  ``AIRFLOW__COSMOS__CACHE_DIR`` to ``<state>/cosmos``).
* **dbt starts quickly.** dbt runs in-process (``InvocationMode.DBT_RUNNER``: no interpreter
  start-up), writes no JSON artifacts (the manifest, twice per invocation), and reads the
  ``partial_parse.msgpack`` beside the manifest instead of parsing the project. ``dbt
  parse`` leaves one there at build time; as dbt keys it to the warehouse connection, the
  freshness check that opens each run replaces it when the connection's warehouse is not
  the one it was parsed for.
* **Data-test failures are not retried**: the same data fails the same test again.
* **Stable assets.** Each layer declares its tables as outlets, named logically
  (``medfollow_airflow.assets``) instead of Cosmos' host-and-port URIs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing.resource_tracker
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from airflow.sdk import Asset, TaskGroup
from airflow.sdk.exceptions import AirflowFailException
from cosmos import ProfileConfig, settings
from cosmos.constants import InvocationMode
from cosmos.dbt.project import environ
from cosmos.operators.local import DbtBuildLocalOperator
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


@dataclass(frozen=True)
class Layer:
    """One ``dbt build`` task: the project folders it builds."""

    name: str
    folders: tuple[str, ...]

    def selectors(self) -> list[str]:
        return [f"path:{folder}" for folder in self.folders]

    def holds(self, node: dict[str, Any]) -> bool:
        return _under(node["original_file_path"], self.folders)


LAYERS = (
    Layer("seeds", ("seeds",)),
    Layer("staging", ("models/staging",)),
    Layer("intermediate", ("models/intermediate",)),
    Layer("marts", ("models/marts", "snapshots")),
    Layer("exports", ("models/exports",)),
)
"""In build order; every model, seed and snapshot of the project lies in exactly one."""

BUILT = ("model", "seed", "snapshot")


def dbt_layers(group_id: str) -> TaskGroup:
    """A task group of one ``dbt build`` task per layer (``LAYERS``) in order, each
    declaring the tables it builds as assets; layers the deployment leaves out entirely
    ($MEDFOLLOW_DBT_EXCLUDE) have no task. Call inside the DAG's context."""
    _refuse_shared_cache()
    manifest = config.dbt_manifest_path()
    nodes = _manifest_nodes(manifest)
    excluded = excluded_folders()
    with TaskGroup(group_id=group_id, tooltip="dbt build, one task per layer") as group:
        previous = None
        for layer in LAYERS:
            built = [
                node
                for node in nodes.values()
                if node["resource_type"] in BUILT
                and layer.holds(node)
                and not _under(node["original_file_path"], excluded)
            ]
            if not built:
                continue
            task = dbt_build_task(
                task_id=layer.name,
                project_dir=config.DBT_PROJECT_DIR,
                manifest=manifest,
                select=layer.selectors(),
                exclude=[f"path:{folder}" for folder in excluded],
                outlets=[
                    table_asset(node["schema"], node["alias"])
                    for node in built
                    if node["config"].get("materialized") != "ephemeral"
                ],
            )
            if previous is not None:
                previous >> task
            previous = task
    return group


def dbt_build_task(
    *,
    task_id: str,
    project_dir: Path,
    manifest: Path,
    select: Sequence[str],
    exclude: Sequence[str] = (),
    outlets: Sequence[Asset] = (),
) -> DbtBuildLocalOperator:
    """``dbt build`` of the selected nodes through Cosmos, on the warehouse of the Airflow
    connection; a test runs where its last parent is built (``buildable``)."""
    return DbtBuildLocalOperator(
        task_id=task_id,
        project_dir=str(project_dir),
        manifest_filepath=str(manifest),
        profile_config=profile_config(),
        invocation_mode=InvocationMode.DBT_RUNNER,
        select=list(select),
        exclude=list(exclude) or None,
        indirect_selection="buildable",
        # Cosmos would name each table by the warehouse's host and port; the outlets are
        # logical names instead.
        emit_datasets=False,
        outlets=list(outlets),
        **operator_args(),
    )


def excluded_folders() -> tuple[str, ...]:
    """The project folders (and files) of $MEDFOLLOW_DBT_EXCLUDE, which takes ``path:``
    selectors only: a layer's outlets must be known without running dbt."""
    folders = []
    for selector in config.dbt_exclude():
        method, _, folder = selector.partition(":")
        parts = PurePosixPath(folder).parts
        if method != "path" or not folder:
            raise MedfollowError(
                f"{config.DBT_EXCLUDE_ENV}: {selector!r} is not a path: selector; "
                "leave out folders or files of the dbt project (path:models/marts/pgx)"
            )
        if (
            any(c in folder for c in "*?[")
            or folder.startswith("/")
            or {".", ".."} & set(parts)
            or folder.endswith((".yml", ".yaml"))
            or not (config.DBT_PROJECT_DIR / folder).exists()
        ):
            raise MedfollowError(
                f"{config.DBT_EXCLUDE_ENV}: {selector!r} names no model folder or file of the "
                "dbt project as written from its root, without patterns (path:models/marts/pgx)"
            )
        folders.append("/".join(parts))
    return tuple(folders)


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == folder or path.startswith(f"{folder}/") for folder in folders)


def _manifest_nodes(manifest: Path) -> dict[str, dict[str, Any]]:
    if not manifest.is_file():
        raise MedfollowError(
            f"no dbt manifest at {manifest}: run `dbt parse` in {config.DBT_PROJECT_DIR} "
            f"(or set {config.DBT_MANIFEST_ENV}) before Airflow parses the DAGs; see dbt/README.md"
        )
    nodes: dict[str, dict[str, Any]] = json.loads(manifest.read_text())["nodes"]
    return nodes


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=TARGET_NAME,
        profile_mapping=WarehouseProfileMapping(
            conn_id=config.WAREHOUSE_CONN_ID, profile_args={"schema": "marts", "threads": 2}
        ),
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
