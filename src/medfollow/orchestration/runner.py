"""Prepare Airflow for this project, and run its DAGs in-process with ``dag.test()``.

``dag.test()`` is Airflow's supported way to run a whole DAG in one process: real
operators, real XCom, real asset events, a real metadata database, no scheduler. The demo
and the end-to-end tests use it, on SQLite metadata: one process writes it at a time, so it
needs no server and leaves the services' PostgreSQL metadata alone. The services themselves
(``medfollow airflow``) are in ``services.py``.
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

DBT_POOL = "dbt"
"""The pool dbt tasks run in (``policy.py`` puts them there): as many slots as dbt
invocations the machine(s) bear."""


@dataclass(frozen=True)
class DagResult:
    dag_id: str
    state: str
    task_states: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.state == "success"


def prepare(url: str, *, metadata: str | None = None, dbt_pool_slots: int = 1) -> Path:
    """Point Airflow at this project and warehouse (metadata: ``dag.test()``'s SQLite unless
    given), migrate its metadata database, create the ``dbt`` pool, and build the dbt
    manifest the marts DAG is rendered from (so parsing the DAGs runs no dbt)."""
    environment.apply(url, metadata=metadata)
    build_manifest()
    home = environment.airflow_home()
    _airflow_cli(home / "db-migrate.log", "db", "migrate")
    _airflow_cli(
        home / "pools.log", "pools", "set", DBT_POOL, str(dbt_pool_slots), "dbt build tasks"
    )
    # Airflow wrote its generated keys (JWT signing, Fernet) there on first use.
    if (home / "airflow.cfg").exists():
        (home / "airflow.cfg").chmod(0o600)
    return home


def _airflow_cli(log: Path, *args: str) -> None:
    with log.open("w") as fh:
        result = subprocess.run(
            [_airflow(), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            check=False,
        )
    if result.returncode != 0:
        raise MedfollowError(f"airflow {' '.join(args[:2])} failed; see {log}")


def build_manifest() -> Path:
    """``dbt parse`` the project into the state folder and point ``$MEDFOLLOW_DBT_MANIFEST``
    at the result. The manifest is written elsewhere first and moved into place, so a
    concurrent reader never sees half a file. dbt's partial-parse file is kept beside it: the
    marts DAG's tasks read it instead of parsing the project again, which they can only do if
    it was parsed for the profile and target they use (medfollow_airflow.cosmos_config)."""
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
                    "--profile",
                    "medfollow",
                    "--target",
                    "warehouse",
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
        os.replace(
            Path(work) / "target" / "partial_parse.msgpack", folder / "partial_parse.msgpack"
        )
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
