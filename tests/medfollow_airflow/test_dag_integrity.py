"""Every DAG imports cleanly, says who owns it and what it does, and parsing the DAG files
does no work: no process is spawned and no dbt runs (Cosmos renders the marts DAG from the
dbt manifest built before parsing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medfollow_core import config
from medfollow_core.landing.contracts import families

pytestmark = pytest.mark.integration

# Run in a fresh interpreter without Cosmos' cache, so that nothing imported or cached
# earlier in the test session hides work done at parse time: every way of starting a
# process, and dbt itself, raise once the DagBag starts loading, and what was attempted is
# reported alongside the import errors.
GUARDED_LOAD = r"""
import json, os, subprocess, sys

import _posixsubprocess
from airflow.dag_processing.dagbag import DagBag
from dbt.cli.main import dbtRunner

attempted = []

def refuse(name):
    def refused(*args, **kwargs):
        attempted.append(name)
        raise RuntimeError(f"{name} while parsing the DAG files")
    return refused

subprocess.Popen.__init__ = refuse("subprocess.Popen")
_posixsubprocess.fork_exec = refuse("_posixsubprocess.fork_exec")
for name in (
    "fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "popen", "execv", "execve",
    "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve",
    "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
):
    if hasattr(os, name):
        setattr(os, name, refuse(f"os.{name}"))
dbtRunner.invoke = refuse("dbtRunner.invoke")

# and whatever starts a process by a path not patched above (C code, a module holding its
# own reference) still passes the interpreter's audit events
def audit(event, args):
    if event in ("subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec",
                 "os.spawn", "os.system"):
        attempted.append(event)

sys.addaudithook(audit)
bag = DagBag(dag_folder=sys.argv[1])
print("RESULT " + json.dumps({
    "import_errors": {os.path.basename(k): v for k, v in bag.import_errors.items()},
    "attempted": attempted,
    "tasks": {dag_id: [t.task_id for t in dag.tasks] for dag_id, dag in bag.dags.items()},
    "classes": {
        dag_id: {
            t.task_id: [c.__name__ for c in getattr(t, "operator_class", type(t)).__mro__]
            for t in dag.tasks
        }
        for dag_id, dag in bag.dags.items() if dag_id.startswith("variant_")
    },
    "spark_conn": {  # SparkSubmitOperator keeps its connection id in _conn_id
        f"{dag_id}.{t.task_id}": getattr(t, "_conn_id", None)
        for dag_id, dag in bag.dags.items() if dag_id.startswith("variant_")
        for t in dag.tasks
    },
}))
"""


def guarded_load(env: dict[str, str] | None = None) -> dict:
    """Load the DagBag in a fresh interpreter with process spawning and dbt forbidden."""
    done = subprocess.run(
        [sys.executable, "-c", GUARDED_LOAD, str(config.DAGS_DIR)],
        capture_output=True,
        text=True,
        # Cosmos' cache would hide a `dbt ls` an earlier parse ran and cached
        env={**os.environ, "AIRFLOW__COSMOS__ENABLE_CACHE": "False", **(env or {})},
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.fixture(scope="module")
def dagbag(db_url: str, airflow_metadata: Path):
    from medfollow.orchestration import environment

    environment.apply(db_url)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(config.DAGS_DIR))


@pytest.fixture(scope="module")
def guarded(dagbag) -> dict:
    return guarded_load()


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_one_ingest_dag_per_source_family_plus_marts(dagbag) -> None:
    expected = {f"ingest_{family}" for family in families()} | {"followup_marts"}
    assert expected <= set(dagbag.dags)


def test_every_dag_has_owner_tags_and_doc(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc"
        owners = {task.owner for task in dag.tasks}
        assert owners and "airflow" not in owners, f"{dag_id} has no owner"


def test_parsing_the_dags_spawns_no_process_and_runs_no_dbt(dagbag, guarded: dict) -> None:
    """The same DAGs and tasks load with process spawning and dbt forbidden, so parsing
    (which Airflow repeats every few minutes) neither forks nor runs `dbt ls`."""
    assert guarded["attempted"] == []
    assert guarded["import_errors"] == {}
    assert {k: sorted(v) for k, v in guarded["tasks"].items()} == {
        dag_id: sorted(t.task_id for t in dag.tasks) for dag_id, dag in dagbag.dags.items()
    }


def test_the_marts_dag_builds_every_table_of_the_manifest(dagbag) -> None:
    """The layers' outlets are what the manifest holds: a model added to the project and
    parsed (dbt parse) becomes an asset of its layer's task."""
    from medfollow_airflow.assets import table_asset

    manifest = json.loads(config.dbt_manifest_path().read_text())
    tables = {
        table_asset(node["schema"], node["alias"]).uri
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    declared = {a.uri for t in dagbag.dags["followup_marts"].tasks for a in t.outlets}
    assert tables and tables <= declared


def test_the_marts_dag_refuses_cosmos_cache_in_the_shared_temp_directory(dagbag) -> None:
    """Cosmos' default cache is one folder of the system temp directory for every deployment
    on the host: the marts DAG does not load with it, and says which setting to give."""
    found = guarded_load(
        {"AIRFLOW__COSMOS__ENABLE_CACHE": "True", "AIRFLOW__COSMOS__CACHE_DIR": ""}
    )
    assert list(found["import_errors"]) == ["followup_marts.py"]
    assert "AIRFLOW__COSMOS__CACHE_DIR" in found["import_errors"]["followup_marts.py"]


def test_without_a_manifest_the_marts_dag_fails_to_load_saying_how_to_build_it(
    dagbag, tmp_path: Path
) -> None:
    found = guarded_load({"MEDFOLLOW_DBT_MANIFEST": str(tmp_path / "absent.json")})
    assert found["attempted"] == []
    assert list(found["import_errors"]) == ["followup_marts.py"]
    assert "dbt parse" in found["import_errors"]["followup_marts.py"]


def test_no_landing_run_outlives_its_schedule(dagbag) -> None:
    """Sensors poll side by side (the register's dependants after the register, in its own
    family) and give up before the next run of the DAG is due, so a run that found nothing
    has ended by then."""
    from medfollow_airflow.schedules import landing_poll

    polled = [d for d in dagbag.dags.values() if d.dag_id.startswith("ingest_")]
    polled.append(dagbag.dags["variant_frequencies"])
    for dag in polled:
        sensors = [t for t in dag.tasks if t.task_id.startswith("wait_for_")]
        assert sensors, dag.dag_id
        for sensor in sensors:
            # at most one link: the register's publish before its dependants' sensor
            upstream = [dag.get_task(t) for t in sensor.upstream_task_ids]
            waited = sensor.timeout + sum(
                dag.get_task(f"wait_for_{u.source}").timeout for u in upstream
            )
            assert {u.task_id for u in upstream} <= {"publish_cpr"}, sensor.task_id
            assert waited < landing_poll().total_seconds(), f"{dag.dag_id}.{sensor.task_id}"


def test_sources_wait_for_the_register_they_are_checked_against(dagbag) -> None:
    """Every source validated against the CPR register waits for the register of its
    cut-off; genomes wait for the opt-out register; families that wait also run when the
    register is loaded."""
    from medfollow_airflow.ingest import raw_assets
    from medfollow_core.landing.contracts import all_contracts

    waits = {}
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if task.task_id.startswith("wait_for_"):
                waits[task.source] = task.after
    expected = {
        source: ("cpr" if contract.references_cpr_register else None)
        for source, contract in all_contracts().items()
    }
    assert waits == {**expected, "genomes": "optout"}

    def scheduled_on(dag_id: str) -> set[str]:
        condition = dagbag.dags[dag_id].timetable.asset_condition
        return {str(asset.name) for asset in condition.objects}

    register = {str(a.name) for a in raw_assets("cpr")}
    assert register <= scheduled_on("ingest_laboratory")
    assert {str(a.name) for a in raw_assets("optout")} <= scheduled_on("variant_frequencies")


def test_the_variant_steps_run_on_a_spark_cluster_when_one_is_configured(dagbag) -> None:
    """Without MEDFOLLOW_SPARK_CONN_ID the steps that count run in the task; with it they
    are the Spark provider's SparkSubmitOperator on that connection, and the rest of both
    DAGs is unchanged (parsing still starts no process)."""
    local = guarded_load({"MEDFOLLOW_SPARK_CONN_ID": ""})
    on_spark = guarded_load({"MEDFOLLOW_SPARK_CONN_ID": "spark_cluster"})
    assert on_spark["attempted"] == [] and on_spark["import_errors"] == {}
    counting = {
        ("variant_frequencies", "ingest_genome_file"),
        ("variant_optout_sync", "sync_optouts"),
    }
    for dag_id, classes in on_spark["classes"].items():
        assert classes.keys() == local["classes"][dag_id].keys()
        for task_id, mro in classes.items():
            submitted = "SparkSubmitOperator" in mro
            assert submitted == ((dag_id, task_id) in counting), (dag_id, task_id)
            assert "SparkSubmitOperator" not in local["classes"][dag_id][task_id]
            if not submitted:
                assert mro == local["classes"][dag_id][task_id]
    assert local["classes"]["variant_frequencies"]["ingest_genome_file"][0] == (
        "IngestGenomeFileOperator"
    )
    assert on_spark["spark_conn"]["variant_optout_sync.sync_optouts"] == "spark_cluster"
