"""The followup_marts DAG: scheduled on the raw tables it reads, source freshness checked
first, one dbt task per model, and the Medicinrådet release only after every dbt task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medfollow_core import config

pytestmark = pytest.mark.integration

MARTS = (
    "fct_atmp_treatment",
    "fct_atmp_followup",
    "fct_followup_events",
    "agg_survival_km",
    "fct_outcome_agreement_status",
    "medicinraadet_followup_summary",
    "medicinraadet_followup_km",
    "medicinraadet_followup_cif",
    "snp_outcome_agreement_status",
)


@pytest.fixture(scope="module")
def dag(db_url: str, airflow_metadata: Path):
    from medfollow.orchestration import environment

    environment.apply(db_url)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(config.DAGS_DIR))
    assert not {k: v for k, v in bag.import_errors.items() if "followup_marts" in k}
    return bag.dags["followup_marts"]


def _sources_dbt_reads() -> set[str]:
    """The delivering sources of every raw table a dbt model reads, from the manifest the
    DAG is rendered from (raw tables are named <source>__<table>)."""
    manifest = json.loads(config.dbt_manifest_path().read_text())
    return {
        node["identifier"].split("__")[0]
        for unique_id, node in manifest["sources"].items()
        if node["schema"] == "raw"
        and any(child.startswith("model.") for child in manifest["child_map"][unique_id])
    }


def test_scheduled_on_the_raw_tables_of_every_source_it_reads(dag) -> None:
    """All of them (AssetAll): one rebuild once the month's deliveries are in."""
    from medfollow_airflow.ingest import raw_assets

    sources = _sources_dbt_reads()
    assert {"cpr", "lpr3", "lmdb"} <= sources
    expected = {a.uri for source in sources for a in raw_assets(source)}
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"
    assert {a.uri for a in condition.objects} == expected


def test_a_task_per_mart_and_the_release_last(dag) -> None:
    task_ids = {t.task_id for t in dag.tasks}
    for model in MARTS:
        assert any(t.startswith(f"dbt.{model}_") for t in task_ids), model
    release = dag.get_task("medicinraadet_release")
    dbt_tasks = {t for t in task_ids if t.startswith("dbt.")}
    assert dbt_tasks <= release.get_flat_relative_ids(upstream=True)


def test_source_freshness_then_linkage_before_any_dbt_task(dag) -> None:
    freshness = dag.get_task("source_freshness")
    downstream = freshness.get_flat_relative_ids(upstream=False)
    dbt_tasks = {t.task_id for t in dag.tasks if t.task_id.startswith("dbt.")}
    assert dbt_tasks and dbt_tasks <= downstream
    assert "linkage.link_persons" in downstream
    assert not freshness.get_flat_relative_ids(upstream=True)
    linked = dag.get_task("linkage.link_persons").get_flat_relative_ids(upstream=False)
    assert dbt_tasks <= linked


def test_every_table_dbt_builds_is_an_asset_named_independently_of_the_warehouse(dag) -> None:
    """Each model, seed and snapshot task declares its table (as dbt names it: schema and
    alias) under the logical medfollow scheme; no asset carries a host or port, so moving
    the warehouse renames nothing."""
    from medfollow_airflow.assets import table_asset

    manifest = json.loads(config.dbt_manifest_path().read_text())
    expected = {
        node["name"]: table_asset(node["schema"], node["alias"])
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    declared = {
        task.task_id.removeprefix("dbt.").rsplit("_", 2)[0]: task.outlets
        for task in dag.tasks
        if task.task_id.startswith("dbt.") and task.task_id.endswith("_build")
    }
    assert declared == {name: [asset] for name, asset in expected.items()}
    uris = [a.uri for t in dag.tasks for a in t.outlets] + [
        a.uri for a in dag.timetable.asset_condition.objects
    ]
    assert all(uri.startswith("medfollow://warehouse/") for uri in uris), uris
