"""Every DAG imports cleanly and says who owns it and what it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from medfollow_core import config
from medfollow_core.landing.contracts import families

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dagbag(db_url: str, airflow_metadata: Path):
    from medfollow.orchestration import environment

    environment.apply(db_url)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(config.DAGS_DIR))


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


def test_no_cycles(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        order = dag.topological_sort()
        assert len(order) == len(dag.tasks), f"{dag_id} is not a DAG"


def test_dag_files_do_no_top_level_work() -> None:
    """DAG files are thin declarations: no database or file I/O at import."""
    for path in Path(config.DAGS_DIR).glob("*.py"):
        text = path.read_text()
        for forbidden in ("psycopg", "open(", "read_csv", "connect("):
            assert forbidden not in text, f"{path.name} does {forbidden} at top level"
