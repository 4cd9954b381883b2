"""The variant DAG's ingest step as the cluster path runs it: the Spark provider's
SparkSubmitOperator (our adapter) submits spark_job.py through a Spark connection (a local
master here), with the warehouse and the key from the secrets backend, and leaves the store
the in-process task leaves; the secrets file it handed over is gone afterwards."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import psycopg
import pytest

from genomics_variants.contributions.store import Store
from genomics_variants.deliveries import ingest_genome_file
from support.variants import assert_same_aggregate, genome_samples, java_runs_spark
from synthetic_deliveries.genomes import write_genomes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not java_runs_spark(), reason="no Java 17+ runtime (make reference-tools installs one)"
    ),
]


def test_the_submitted_ingest_adds_as_the_in_process_task(
    db_url: str, key: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from medfollow.orchestration import environment

    samples = genome_samples(12, first_birth_year=1951, first_serial=400)
    delivery = write_genomes(tmp_path / "landing", samples, seed=16, cutoff=date(2026, 3, 31))

    environment.apply(db_url)  # connection and key in the secrets backend; spark-submit on PATH
    with psycopg.connect(db_url, autocommit=True) as conn:  # an empty opt-out register
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, "
            "gyldig_fra date, gyldig_til date, _delivery_id text, _row_number bigint)"
        )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_LOCAL", json.dumps({"conn_type": "spark", "host": "local[2]"})
    )
    monkeypatch.setenv("MEDFOLLOW_VARIANTS_STORE", str(tmp_path / "submitted"))
    from medfollow_airflow.spark import SubmittedIngestOperator

    joint = delivery / "joint" / "cohort.vcf.gz"
    item = {"delivery": str(delivery), "vcf": str(joint)}
    before = set(Path(tempfile.gettempdir()).glob("medfollow-spark-*"))
    task = SubmittedIngestOperator(task_id="ingest_genome_file", item=item, conn_id="spark_local")
    outcome = task.execute({})
    assert set(Path(tempfile.gettempdir()).glob("medfollow-spark-*")) == before

    local = Store(tmp_path / "local")
    added = ingest_genome_file(local.root, delivery, joint, key=key, warehouse_url=db_url)
    assert outcome == {"delivery": str(delivery), "added": added} and added > 0
    a, b = Store(tmp_path / "submitted").load(), local.load()
    assert a.samples.column("person_key").to_pylist() == b.samples.column("person_key").to_pylist()
    assert_same_aggregate(a.aggregate, b.aggregate)
