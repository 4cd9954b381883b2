"""The variant DAG's Spark job (genomics_variants/spark_job.py): its opt-out step under a
local master leaves the store the in-process task leaves, and a refusal is reported, not
retried. (Its ingest step under spark-submit is run by the Airflow operator's test,
tests/medfollow_airflow/test_spark_submit.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg
import pytest

from genomics_variants import spark_job
from genomics_variants.contributions.store import Store
from genomics_variants.deliveries import ingest_genome_file
from genomics_variants.frequencies.release import frequency_table
from genomics_variants.pipeline import sync_optouts
from support.variants import assert_same_aggregate, java_runs_spark

pytestmark = pytest.mark.skipif(
    not java_runs_spark(), reason="no Java 17+ runtime (make reference-tools installs one)"
)


def _same_store(a: Store, b: Store) -> None:
    x, y = a.load(), b.load()
    assert_same_aggregate(x.aggregate, y.aggregate)
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
