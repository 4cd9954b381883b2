"""End to end through Airflow: synthetic deliveries → ingest DAGs → dbt marts via Cosmos,
all with dag.test() on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from medfollow.orchestration import environment
from medfollow.orchestration.runner import run_dag
from medfollow_airflow.assets import table_asset
from medfollow_core import config
from medfollow_core.landing.contracts import families, families_register_first
from support.privacy import columns_holding_cprs
from synthetic_deliveries import generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NO_WAIT = {"wait_for_deliveries": False}


@pytest.fixture(scope="module")
def platform(db_url: str, airflow_metadata: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("synth")
    generate(out, persons=1_500, seed=11, genomes=24)
    # The variant DAG writes to the state directory's store; this module's warehouse is new,
    # so its store must be too (one left by an earlier run would hold other genomes).
    shutil.rmtree(config.state_dir() / "variants", ignore_errors=True)
    environment.apply(db_url)
    os.environ["MEDFOLLOW_LANDING_DIR"] = str(out / "landing")
    return db_url


def test_ingest_dags_load_every_delivery(platform: str, tmp_path: Path) -> None:
    before = _asset_events()
    for family in families_register_first():
        result = run_dag(f"ingest_{family}", tmp_path / "airflow.log", NO_WAIT)
        assert result.ok, f"ingest_{family}: {result.task_states} (see {tmp_path / 'airflow.log'})"
    with psycopg.connect(platform) as conn:
        rows = conn.execute(
            "select source, status, airflow_run_id, reason from audit.deliveries"
        ).fetchall()
    assert {r[0] for r in rows} == {
        c for cs in families().values() for c in (x.source for x in cs)
    }, "registry ingest DAGs touch registry sources only"
    # Mapped deliveries of one source may run in any order: an older snapshot that comes
    # after a newer one is skipped as superseded, never loaded over it.
    assert all(
        status == "loaded" or (status == "skipped" and reason.startswith("superseded"))
        for _, status, _, reason in rows
    ), rows
    assert all(run_id for _, _, run_id, _ in rows), "every attempt records its Airflow run id"
    emitted = _asset_events()
    for contract in (c for cs in families().values() for c in cs):
        for table in contract.tables:
            uri = table_asset("raw", f"{contract.source}__{table.name}").uri
            assert emitted.get(uri, 0) > before.get(uri, 0), f"no asset event for {uri}"


def _asset_events() -> dict[str, int]:
    """Asset events per asset URI, from the Airflow metadata database."""
    from airflow.settings import Session
    from sqlalchemy import text

    with Session() as session:
        rows = session.execute(
            text(
                "select a.uri, count(*) from asset_event e join asset a on a.id = e.asset_id "
                "group by a.uri"
            )
        ).fetchall()
    return {name: count for name, count in rows}


def test_second_run_skips_everything(platform: str, tmp_path: Path) -> None:
    result = run_dag("ingest_population", tmp_path / "airflow.log", NO_WAIT)
    assert result.ok
    assert "success" not in {k for k, v in result.task_states.items() if k.startswith("ingest")}
    with psycopg.connect(platform) as conn:
        statuses = {
            s
            for (s,) in conn.execute(
                "select distinct status from audit.deliveries where source = 'cpr'"
            )
        }
    assert statuses == {"loaded"}  # nothing pending: the sensor soft-fails, nothing is re-attempted


def test_marts_dag_builds_dbt_models_through_cosmos(platform: str, tmp_path: Path) -> None:
    before = _asset_events()
    result = run_dag("followup_marts", tmp_path / "airflow.log")
    assert result.ok, result.task_states
    uri = table_asset("marts", "fct_atmp_treatment").uri
    assert _asset_events().get(uri, 0) == before.get(uri, 0) + 1, "one event per build of the table"
    with psycopg.connect(platform) as conn:
        persons = conn.execute("select count(*) from raw.cpr__persons").fetchone()
        mart = conn.execute("select count(*) from marts.dim_person").fetchone()
    assert persons == mart and mart[0] > 1_000


def test_no_valid_cpr_number_anywhere_in_the_warehouse(platform: str) -> None:
    """After loading every synthetic source, scan every text column of every table."""
    scanned, leaks = columns_holding_cprs(platform)
    assert scanned > 50
    assert not leaks


def test_variant_dag_ingests_genomes_per_file_and_publishes_a_release(
    platform: str, tmp_path: Path
) -> None:
    result = run_dag("variant_frequencies", tmp_path / "airflow.log", NO_WAIT)
    assert result.ok, result.task_states
    with psycopg.connect(platform) as conn:
        assert conn.execute(
            "select status from audit.deliveries where source = 'genomes'"
        ).fetchall() == [("loaded",)]
        variants = conn.execute("select count(*) from variants.frequencies").fetchone()
    assert variants and variants[0] > 100
    sync = run_dag("variant_optout_sync", tmp_path / "airflow.log")
    assert sync.ok, sync.task_states
