"""The marts DAG's dbt tasks as they run under Airflow (real Cosmos operators, real dbt, a
real warehouse): the warehouse comes from the Airflow connection, a task reuses the partial
parse the run's freshness check leaves, it declares its table by a logical name, and a
failed data test fails its task without retry while any other failure is retried."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest

from medfollow_core import config
from medfollow_core.errors import MedfollowError

pytestmark = pytest.mark.integration

PROBE_PROJECT = {
    "dbt_project.yml": "name: probe\nversion: '1.0'\nconfig-version: 2\nprofile: medfollow\n",
    "models/passing.sql": "select 1 as x",
    "models/failing.sql": "select 1 as x",
    "models/broken.sql": "select x from a_relation_that_does_not_exist",
    # a data test of `failing` that finds the row it forbids, as a failed check on real
    # data does: running it again finds it again
    "tests/failing_has_no_rows.sql": "select x from {{ ref('failing') }}",
}


def _run_one(dag, task_id: str, *, retries: int | None = None):
    """Run one task of `dag` with dag.test(); its task instance afterwards. ``retries``
    overrides the task's (a marts task would otherwise wait out its retry delay)."""
    subset = dag.partial_subset(
        task_ids=[task_id], include_upstream=False, include_downstream=False
    )
    if retries is not None:
        subset.get_task(task_id).retries = retries
    (ti,) = subset.test().get_task_instances()
    return ti


@pytest.fixture(scope="module")
def warehouse(db_url: str, airflow_metadata: Path) -> str:
    from medfollow.orchestration import environment

    environment.apply(db_url)
    return db_url


@pytest.fixture(scope="module")
def marts(warehouse: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(config.DAGS_DIR / "followup_marts.py"))
    assert bag.import_errors == {}
    return bag.dags["followup_marts"]


@pytest.fixture(scope="module")
def probe(warehouse: str, tmp_path_factory: pytest.TempPathFactory):
    """A DAG of a three-model dbt project, rendered with the marts DAG's Cosmos
    configuration (profile, execution, operator arguments)."""
    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup, ProjectConfig, RenderConfig
    from cosmos.constants import LoadMode, TestBehavior
    from dbt.cli.main import dbtRunner

    from medfollow_airflow.cosmos_config import (
        execution_config,
        operator_args,
        profile_config,
    )

    project = tmp_path_factory.mktemp("probe")
    for name, text in PROBE_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    with profile_config().ensure_profile() as (profile, _):
        parsed = dbtRunner().invoke(
            ["parse", "--project-dir", str(project), "--profiles-dir", str(profile.parent)]
        )
    assert parsed.success, parsed.exception
    with DAG(
        dag_id="probe_dbt",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    ) as dag:
        DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(
                dbt_project_path=project, manifest_path=project / "target" / "manifest.json"
            ),
            profile_config=profile_config(),
            execution_config=execution_config(),
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD
            ),
            operator_args=operator_args(),
        )
    return dag


def test_a_model_task_builds_from_the_connection_without_parsing_the_project(
    marts, warehouse: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The freshness check that opens a run leaves a partial parse for the connection's
    warehouse (the session's manifest was parsed for another database); the view over
    audit.deliveries then builds, its tests passing, without dbt parsing the project."""
    from medfollow_airflow.cosmos_config import check_source_freshness

    with pytest.raises(MedfollowError, match="stale sources"):
        check_source_freshness()  # nothing was ever delivered to this warehouse
    capfd.readouterr()
    ti = _run_one(marts, "dbt.stg_audit__deliveries_model_build", retries=0)
    out = capfd.readouterr().out
    assert str(ti.state) == "success", out[-3000:]
    assert "Unable to do partial parsing" not in out
    assert "Completed successfully" in out


def test_a_model_task_declares_its_table_by_its_logical_name(marts) -> None:
    task = marts.get_task("dbt.stg_audit__deliveries_model_build")
    assert [a.uri for a in task.outlets] == ["medfollow://warehouse/staging/stg_audit__deliveries"]


def _execute(dag, task_id: str) -> None:
    """The task's operator as the task runner calls it (Airflow turns an
    AirflowFailException into a failure without retry, any other exception into a retry)."""
    dag.get_task(task_id).execute({"run_id": "probe", "ti": None})


def test_a_passing_model_succeeds(probe) -> None:
    _execute(probe, "dbt.passing_model_build")


def test_a_failed_data_test_fails_the_task_without_retry(probe) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="failing_has_no_rows"):
        _execute(probe, "dbt.failing_model_build")


def test_a_model_error_is_retried(probe) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(Exception) as failed:
        _execute(probe, "dbt.broken_model_build")
    assert not isinstance(failed.value, AirflowFailException)
    assert "a_relation_that_does_not_exist" in str(failed.value)


TRACKER_PROBE = """
import os, sys, time
from medfollow_airflow.cosmos_config import operator_args
from cosmos.dbt.project import environ
from dbt.mp_context import get_mp_context

if sys.argv[1] == "as-a-task-does":
    operator_args()["on_execute_callback"]({})
with environ({"MEDFOLLOW_PROBE_SECRET": sys.argv[2]}):
    lock = get_mp_context().Lock()  # what dbt does inside Cosmos' invocation
pid = os.getpid()
for _ in range(100):  # until the tracker has exec'ed (before, it shows our own environment)
    children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    if children and all(b"resource_tracker" in open(f"/proc/{c}/cmdline", "rb").read() for c in children):
        break
    time.sleep(0.05)
print(sum(sys.argv[2].encode() in open(f"/proc/{c}/environ", "rb").read() for c in children))
"""


@pytest.mark.parametrize(("mode", "leaks"), [("as-a-task-does", 0), ("without-callback", 1)])
def test_no_process_started_by_a_dbt_task_inherits_the_password(mode: str, leaks: int) -> None:
    """Cosmos puts the password in os.environ for the invocation and dbt's first lock starts
    multiprocessing's resource tracker, which copies the environment of that moment and
    outlives the invocation; a dbt task starts the tracker before (without, the probe shows
    the leak it prevents)."""
    import subprocess
    import sys

    secret = "probe-" + "x" * 24
    result = subprocess.run(
        [sys.executable, "-c", TRACKER_PROBE, mode, secret],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(result.stdout.split()[-1]) == leaks, result.stdout[-2000:]
