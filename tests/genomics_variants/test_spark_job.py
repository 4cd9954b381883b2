"""The variant DAG's Spark job (genomics_variants/spark_job.py), run as a cluster runs it:
its ingest step under pyspark's own spark-submit, its opt-out step under a local master,
each leaving the store the in-process task leaves; a refusal is reported, not retried."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pyspark
import pytest

from genomics_variants import spark_job
from genomics_variants.contributions.store import Store
from genomics_variants.deliveries import ingest_genome_file
from genomics_variants.frequencies.release import frequency_table
from genomics_variants.pipeline import sync_optouts
from support.variants import java_runs_spark

pytestmark = pytest.mark.skipif(
    not java_runs_spark(), reason="no Java 17+ runtime (make reference-tools installs one)"
)


def _same_store(a: Store, b: Store) -> None:
    x, y = a.load(), b.load()
    assert x.aggregate.sites.ids.tolist() == y.aggregate.sites.ids.tolist()
    assert np.array_equal(x.aggregate.listed_by, y.aggregate.listed_by)
    assert np.array_equal(x.aggregate.counts, y.aggregate.counts)
    assert frequency_table(x).equals(frequency_table(y))


def _secrets(folder: Path, **values: str) -> Path:
    path = folder / "secrets.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(0o600)
    return path


def _job(launcher: list[str], *args: str) -> tuple[int, dict[str, object], str]:
    """(exit status, outcome, stderr) of one run of the job."""
    result = Path(args[args.index("--result") + 1])
    result.unlink(missing_ok=True)
    done = subprocess.run(
        [*launcher, *args], capture_output=True, text=True, timeout=900, check=False
    )
    outcome = json.loads(result.read_text()) if result.exists() else {}
    return done.returncode, outcome, done.stderr[-3000:]


def test_the_ingest_step_under_spark_submit_adds_as_the_in_process_task(
    delivery: Path, key: bytes, tmp_path: Path
) -> None:
    """A gVCF into a store holding the joint VCF: its genome's calls, and its blocks at
    every stored variant its own file does not list."""
    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    launcher = [
        str(spark_submit),
        "--master",
        "local[2]",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        str(Path(spark_job.__file__)),
    ]
    secrets = _secrets(tmp_path, pseudonym_key=key.hex())  # no warehouse: as --no-warehouse
    submitted, in_process = Store(tmp_path / "submitted"), Store(tmp_path / "local")
    for store in (submitted, in_process):
        joint = delivery / "joint" / "cohort.vcf.gz"
        ingest_genome_file(store.root, delivery, joint, key=key, warehouse_url=None)
    gvcf = sorted((delivery / "per_sample").glob("*.g.vcf.gz"))[0]
    status, outcome, log = _job(
        launcher,
        "ingest",
        *("--store", str(submitted.root), "--delivery", str(delivery), "--vcf", str(gvcf)),
        *("--secrets", str(secrets), "--result", str(tmp_path / "result.json")),
    )
    assert status == 0, log
    added = ingest_genome_file(in_process.root, delivery, gvcf, key=key, warehouse_url=None)
    assert outcome == {"added": added} == {"added": 1}
    _same_store(submitted, in_process)


@pytest.mark.integration
def test_the_optout_step_removes_as_the_in_process_task_and_reports_a_refusal(
    db_url: str,
    delivery: Path,
    key: bytes,
    manifest_rows: list[dict[str, str]],
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    launcher = [sys.executable, "-m", "genomics_variants.spark_job"]  # on local[*]
    secrets = _secrets(tmp_path, warehouse_url=db_url)
    submitted, in_process = Store(tmp_path / "submitted"), Store(tmp_path / "local")
    joint = delivery / "joint" / "cohort.vcf.gz"
    for store in (submitted, in_process):
        ingest_genome_file(store.root, delivery, joint, key=key, warehouse_url=None)
    args = ("sync-optouts", "--store", str(submitted.root), "--secrets", str(secrets))
    result = ("--result", str(tmp_path / "result.json"))

    status, outcome, _log = _job(launcher, *args, *result)  # no opt-out register loaded yet
    assert status == spark_job.REFUSED and "opt-out register" in str(outcome["error"])

    joint_genomes = [r for r in manifest_rows if r["vcf_file"].startswith("joint")]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, "
            "gyldig_fra date, gyldig_til date, _delivery_id text, _row_number bigint)"
        )
        for row in joint_genomes[:3]:
            conn.execute(
                "insert into raw.optout__registreringer (person_key, register, gyldig_fra, "
                "_delivery_id, _row_number) values (%s, 'genetik', %s, 'optout-1', 1)",
                (person_key(row["cpr"]), date.today()),
            )
    status, outcome, log = _job(launcher, *args, *result)
    assert status == 0, log
    removed, published = sync_optouts(in_process.root, db_url)
    assert removed.genomes == outcome["genomes"] == 3
    assert published.release is not None and outcome["release_id"] is not None
    _same_store(submitted, in_process)
