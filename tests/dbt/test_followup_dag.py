"""The followup_marts DAG: scheduled on the raw tables it reads, source freshness checked
first, one dbt build task per layer in order (every model in a layer after everything it
reads, every test run exactly once), and the Medicinrådet release only after every dbt
task."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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


LAYER_TASKS = ["dbt.seeds", "dbt.staging", "dbt.intermediate", "dbt.marts", "dbt.exports"]


def test_one_build_task_per_layer_in_order_and_the_release_last(dag) -> None:
    dbt_tasks = [t.task_id for t in dag.tasks if t.task_id.startswith("dbt.")]
    assert sorted(dbt_tasks) == sorted(LAYER_TASKS)
    for earlier, later in itertools.pairwise(LAYER_TASKS):
        assert dag.get_task(earlier).downstream_task_ids == {later}
    built = {a.uri.rsplit("/", 1)[1] for t in dag.tasks for a in t.outlets}
    assert set(MARTS) <= built
    release = dag.get_task("medicinraadet_release")
    assert set(dbt_tasks) <= release.get_flat_relative_ids(upstream=True)


def _layer_of(node: dict) -> int:
    from medfollow_airflow.cosmos_config import LAYERS

    (index,) = [i for i, layer in enumerate(LAYERS) if layer.holds(node)]
    return index


def test_every_model_is_built_after_everything_it_reads() -> None:
    """A model, seed or snapshot lies in exactly one layer, never before a layer it reads:
    each layer's task then finds every input built this run (a model in an earlier folder
    than its input would read last month's table, or none)."""
    manifest = json.loads(config.dbt_manifest_path().read_text())
    built = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    backwards = [
        f"{node['name']} reads {built[parent]['name']}"
        for node in built.values()
        for parent in node.get("depends_on", {}).get("nodes", [])
        if parent in built and _layer_of(built[parent]) > _layer_of(node)
    ]
    assert not backwards


@pytest.fixture(scope="module")
def dbt_ls(dag, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(parsed manifest, ls): ls(layer, exclude) lists, as dbt selects them for the layer's
    task (its folders, buildable indirect selection, the exclusions), the unique ids of the
    chosen resource types."""
    from dbt.cli.main import dbtRunner

    from medfollow_airflow.cosmos_config import profile_config

    target = tmp_path_factory.mktemp("dbt-ls")
    common = ["--project-dir", str(config.DBT_PROJECT_DIR), "--target-path", str(target)]
    with profile_config().ensure_profile() as (profile, _):
        common += ["--profiles-dir", str(profile.parent), "--profile", "medfollow"]
        parsed = dbtRunner().invoke(["parse", *common])
        assert parsed.success, parsed.exception
        runner = dbtRunner(manifest=parsed.result)

        def ls(layer: Any, exclude: Sequence[str] = (), types: Sequence[str] = ()) -> list[str]:
            args = ["ls", *common, "--select", *layer.selectors()]
            args += ["--indirect-selection", "buildable"]
            args += ["--exclude", *exclude] if exclude else []
            for kind in types:
                args += ["--resource-type", kind]
            listed = runner.invoke([*args, "--output", "json", "--output-keys", "unique_id"])
            assert listed.success, listed.exception
            return [json.loads(line)["unique_id"] for line in listed.result]

        yield parsed.result, ls


def test_every_dbt_test_runs_in_exactly_one_layer(dbt_ls) -> None:
    """dbt itself selects each layer's tests (as its task does: the layer's folders,
    buildable indirect selection); every data and unit test of the project is in exactly
    one layer, none is left out because its parents span layers."""
    from medfollow_airflow.cosmos_config import LAYERS

    manifest, ls = dbt_ls
    selected: dict[str, list[str]] = {}
    for layer in LAYERS:
        for unique_id in ls(layer, types=("test", "unit_test")):
            selected.setdefault(unique_id, []).append(layer.name)
    tests = {
        unique_id
        for unique_id, node in manifest.nodes.items()
        if node.resource_type == "test" and node.config.enabled
    } | set(manifest.unit_tests)
    assert tests and set(selected) == tests, sorted(tests - set(selected))
    assert {t: layers for t, layers in selected.items() if len(layers) > 1} == {}


def test_a_layer_leaving_folders_out_builds_and_tests_nothing_of_them(dbt_ls) -> None:
    """With the genomic folders excluded, as dbt resolves it, no layer builds a node in
    them nor runs a test reading one (a test whose other parent stays would read a table
    the deployment never builds)."""
    from medfollow_airflow.cosmos_config import LAYERS
    from support.marts import GENOMIC_MARTS

    manifest, ls = dbt_ls
    folders = [s.removeprefix("path:") for s in GENOMIC_MARTS]
    left_out = {
        unique_id
        for unique_id, node in manifest.nodes.items()
        if any(
            node.original_file_path == f or node.original_file_path.startswith(f"{f}/")
            for f in folders
        )
    }
    assert left_out
    for layer in LAYERS:
        listed = ls(layer, exclude=GENOMIC_MARTS)
        reading = {
            unique_id
            for unique_id in listed
            if set(getattr(manifest.nodes.get(unique_id), "depends_on_nodes", ())) & left_out
            or set(getattr(manifest.unit_tests.get(unique_id), "depends_on_nodes", ())) & left_out
        }
        assert not set(listed) & left_out, layer.name
        assert not reading, (layer.name, sorted(reading))


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
    """Each layer declares its tables (as dbt names them: schema and alias) under the
    logical medfollow scheme, each table once; no asset carries a host or port, so moving
    the warehouse renames nothing."""
    from medfollow_airflow.assets import table_asset

    manifest = json.loads(config.dbt_manifest_path().read_text())
    expected = sorted(
        table_asset(node["schema"], node["alias"]).uri
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
    )
    declared = sorted(
        a.uri for task in dag.tasks if task.task_id.startswith("dbt.") for a in task.outlets
    )
    assert declared == expected
    uris = [a.uri for t in dag.tasks for a in t.outlets] + [
        a.uri for a in dag.timetable.asset_condition.objects
    ]
    assert all(uri.startswith("medfollow://warehouse/") for uri in uris), uris


def test_a_deployment_may_leave_whole_folders_out(dag, monkeypatch: pytest.MonkeyPatch) -> None:
    """MEDFOLLOW_DBT_EXCLUDE: every layer task passes the folders to dbt's --exclude and
    does not declare their tables (what dbt then selects: the test above)."""
    import pendulum
    from airflow.sdk import DAG

    from medfollow_airflow.cosmos_config import dbt_layers
    from support.marts import GENOMIC_MARTS

    excluded = list(GENOMIC_MARTS)
    monkeypatch.setenv(config.DBT_EXCLUDE_ENV, " ".join(excluded))
    with DAG("without_genomes", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as lean:
        dbt_layers("dbt")
    uris = {a.uri for t in lean.tasks for a in t.outlets}
    assert "medfollow://warehouse/marts/fct_atmp_treatment" in uris
    assert not {u for u in uris if "pgx" in u or "/fct_fh_" in u}
    assert [t.task_id for t in lean.tasks] == LAYER_TASKS
    assert all(t.exclude == excluded for t in lean.tasks)


@pytest.mark.parametrize("selector", ["tag:genomic", "path:", "fct_pgx_exposure"])
def test_leaving_out_anything_but_a_folder_or_file_is_refused(
    selector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer's tables must be known without running dbt: only path: selectors."""
    from medfollow_airflow.cosmos_config import excluded_folders
    from medfollow_core.errors import MedfollowError

    monkeypatch.setenv(config.DBT_EXCLUDE_ENV, selector)
    with pytest.raises(MedfollowError, match="not a path: selector"):
        excluded_folders()
