"""The variant DAG's counting steps as a Spark application: what its ingest and opt-out
tasks do in process, submitted with spark-submit when the DAG is configured for a cluster
(``MEDFOLLOW_SPARK_CONN_ID``, see plugins/medfollow_airflow/spark.py).

    spark-submit [--master M] .../genomics_variants/spark_job.py ingest --store DIR \\
        --delivery DIR --vcf FILE --secrets FILE --result FILE
    spark-submit [--master M] .../genomics_variants/spark_job.py sync-optouts --store DIR \\
        --secrets FILE --result FILE

or ``python -m genomics_variants.spark_job ...`` on ``$MEDFOLLOW_SPARK_MASTER`` or
``local[*]``. Each step is the in-process task's own call (``deliveries.ingest_genome_file``,
``pipeline.sync_optouts``) given a Spark session, so the store and the release come out the
same; the executors do the counting.

The driver runs where the job is submitted from (client deploy mode): there it reads the VCF
and the secrets. The secrets (pseudonymisation key, warehouse DSN) come in a JSON file that
only the submitting user can read, never as arguments or environment, which spark-submit
passes on to the cluster's configuration and logs. The outcome goes to ``--result`` as JSON
(counts only); a refusal (``MedfollowError``) as ``{"error": message}`` with exit status 2,
so that the task can fail without retrying, as the in-process task does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genomics_variants.contributions.spark import spark_session
from genomics_variants.deliveries import ingest_genome_file
from genomics_variants.pipeline import sync_optouts
from medfollow_core.errors import MedfollowError

REFUSED = 2


def _ingest(args: argparse.Namespace, secrets: dict[str, str], spark: Any) -> dict[str, Any]:
    added = ingest_genome_file(
        Path(args.store),
        Path(args.delivery),
        Path(args.vcf),
        key=bytes.fromhex(secrets["pseudonym_key"]),
        warehouse_url=secrets.get("warehouse_url"),
        spark=spark,
    )
    return {"added": added}


def _sync_optouts(args: argparse.Namespace, secrets: dict[str, str], spark: Any) -> dict[str, Any]:
    removed, published = sync_optouts(Path(args.store), secrets["warehouse_url"], spark=spark)
    release = published.release
    return {"genomes": removed.genomes, "release_id": release.release_id if release else None}


STEPS: dict[str, Callable[[argparse.Namespace, dict[str, str], Any], dict[str, Any]]] = {
    "ingest": _ingest,
    "sync-optouts": _sync_optouts,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark_job.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--store", required=True, help="the variant store (shared storage)")
    parser.add_argument("--delivery", help="ingest: the genome delivery folder")
    parser.add_argument("--vcf", help="ingest: the VCF of that delivery to add")
    parser.add_argument("--secrets", required=True, help="JSON: pseudonym_key, warehouse_url")
    parser.add_argument("--result", required=True, help="where the outcome is written (JSON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one step; 0 when done, REFUSED when the step refused its input."""
    args = _parser().parse_args(argv)
    if args.step == "ingest" and not (args.delivery and args.vcf):
        raise SystemExit("ingest needs --delivery and --vcf")
    secrets = json.loads(Path(args.secrets).read_text(encoding="utf-8"))
    spark = spark_session()
    try:
        outcome, status = STEPS[args.step](args, secrets, spark), 0
    except MedfollowError as exc:  # its message is scrubbed of anything CPR-shaped
        outcome, status = {"error": str(exc)}, REFUSED
    finally:
        spark.stop()
    Path(args.result).write_text(json.dumps(outcome), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
