"""Run the project's DAGs in-process with ``dag.test()``, or start Airflow's own UI.

``dag.test()`` is Airflow's supported way to run a whole DAG in one process: real
operators, real XCom, real asset events, a real metadata database (SQLite here), no
scheduler. The demo and the end-to-end tests both use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from medfollow.orchestration import environment
from medfollow_core import config
from medfollow_core.errors import MedfollowError


@dataclass(frozen=True)
class DagResult:
    dag_id: str
    state: str
    task_states: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.state == "success"


def prepare(url: str) -> Path:
    """Point Airflow at this project and warehouse, migrate its metadata database, and build
    the dbt manifest the marts DAG is rendered from (so parsing the DAGs runs no dbt)."""
    environment.apply(url)
    build_manifest()
    home = environment.airflow_home()
    log = home / "db-migrate.log"
    with log.open("w") as fh:
        result = subprocess.run(
            [_airflow(), "db", "migrate"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            check=False,
        )
    if result.returncode != 0:
        raise MedfollowError(f"airflow db migrate failed; see {log}")
    return home


def build_manifest() -> Path:
    """``dbt parse`` the project into the state folder and point ``$MEDFOLLOW_DBT_MANIFEST``
    at the result. The manifest is written elsewhere first and moved into place, so a
    concurrent reader never sees half a file."""
    folder = config.state_dir() / "dbt"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    project = str(config.DBT_PROJECT_DIR)
    with tempfile.TemporaryDirectory(dir=folder, prefix="parse-") as work:
        log = Path(work) / "dbt-parse.log"
        with log.open("w") as fh:
            result = subprocess.run(
                [
                    str(Path(sys.executable).parent / "dbt"),
                    "parse",
                    "--project-dir",
                    project,
                    "--profiles-dir",
                    project,
                    "--target-path",
                    str(Path(work) / "target"),
                    "--log-path",
                    str(Path(work) / "logs"),
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                check=False,
            )
        if result.returncode != 0:
            kept = folder / "dbt-parse.log"
            os.replace(log, kept)
            raise MedfollowError(f"dbt parse failed; see {kept}")
        os.replace(Path(work) / "target" / "manifest.json", manifest)
    os.environ[config.DBT_MANIFEST_ENV] = str(manifest)
    return manifest


def run_dag(dag_id: str, logfile: Path, conf: dict[str, object] | None = None) -> DagResult:
    """Run one DAG to completion with dag.test(); its log output goes to ``logfile``."""
    from airflow.dag_processing.dagbag import DagBag

    with _output_to(logfile):
        bag = DagBag(dag_folder=str(config.DAGS_DIR))
        dag = bag.dags.get(dag_id)
        if dag is None:
            errors = "; ".join(
                f"{Path(k).name}: {v.strip().splitlines()[-1]}"
                for k, v in bag.import_errors.items()
            )
            raise MedfollowError(f"DAG {dag_id} not found ({errors or 'no import errors'})")
        run = dag.test(run_conf=conf)
    states: dict[str, int] = {}
    for ti in run.get_task_instances():
        state = str(ti.state or "none")
        states[state] = states.get(state, 0) + 1
    return DagResult(dag_id=dag_id, state=str(run.state), task_states=states)


def standalone(port: int) -> None:
    """Start ``airflow standalone`` in the foreground for a user who wants the UI."""
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url

    url = database_url()
    bootstrap(url)
    prepare(url)
    os.environ["AIRFLOW__API__PORT"] = str(port)
    os.environ.setdefault("AIRFLOW__API__HOST", "127.0.0.1")  # a laptop UI, not a server
    os.execv(_airflow(), [_airflow(), "standalone"])


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


@contextmanager
def _output_to(logfile: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (file descriptors too) to ``logfile``."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with logfile.open("a") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
