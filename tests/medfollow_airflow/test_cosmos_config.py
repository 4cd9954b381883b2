"""The marts DAG's dbt tasks as they run under Airflow (real Cosmos operators, real dbt, a
real warehouse): the warehouse comes from the Airflow connection, a task reuses the partial
parse the run's freshness check leaves, it declares its tables by logical names, a failed
data test fails its task without retry while any other failure is retried, and no process
a task starts inherits the password."""

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
    """A DAG of one build task per model of a three-model dbt project, made by the marts
    DAG's own task factory (profile, invocation, operator arguments)."""
    from airflow.sdk import DAG
    from dbt.cli.main import dbtRunner

    from medfollow_airflow.cosmos_config import dbt_build_task, profile_config

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
        for model in ("passing", "failing", "broken"):
            dbt_build_task(
                task_id=model,
                project_dir=project,
                manifest=project / "target" / "manifest.json",
                select=[f"path:models/{model}.sql"],
            )
    return dag


def test_a_build_task_builds_from_the_connection_without_parsing_the_project(
    warehouse: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The freshness check that opens a run leaves a partial parse for the connection's
    warehouse (the session's manifest was parsed for another database); a build task of
    the project (here: the view over audit.deliveries, the one staging model over a table
    an empty warehouse has) then builds, its tests passing, without dbt parsing the
    project."""
    from airflow.sdk import DAG

    from medfollow_airflow.cosmos_config import check_source_freshness, dbt_build_task

    with pytest.raises(MedfollowError, match="stale sources"):
        check_source_freshness()  # nothing was ever delivered to this warehouse
    capfd.readouterr()
    with DAG(dag_id="audit_view", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        dbt_build_task(
            task_id="audit",
            project_dir=config.DBT_PROJECT_DIR,
            manifest=config.dbt_manifest_path(),
            select=["path:models/staging/platform/stg_audit__deliveries.sql"],
        )
    _execute(dag, "audit")
    out = capfd.readouterr().out
    assert "Unable to do partial parsing" not in out
    assert "Completed successfully" in out


def test_a_layer_task_declares_its_tables_by_their_logical_names(marts) -> None:
    uris = {a.uri for a in marts.get_task("dbt.staging").outlets}
    assert "medfollow://warehouse/staging/stg_audit__deliveries" in uris


def _execute(dag, task_id: str) -> None:
    """The task's operator as the task runner calls it (Airflow turns an
    AirflowFailException into a failure without retry, any other exception into a retry)."""
    dag.get_task(task_id).execute({"run_id": "probe", "ti": None})


def test_a_passing_model_succeeds(probe) -> None:
    _execute(probe, "passing")


def test_a_failed_data_test_fails_the_task_without_retry(probe) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="failing_has_no_rows"):
        _execute(probe, "failing")


def test_a_model_error_is_retried(probe) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(Exception) as failed:
        _execute(probe, "broken")
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
trackers = [c for c in children if b"resource_tracker" in open(f"/proc/{c}/cmdline", "rb").read()]
assert len(trackers) == 1, children  # the probe has something to look at
print(sum(sys.argv[2].encode() in open(f"/proc/{c}/environ", "rb").read() for c in trackers))
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
