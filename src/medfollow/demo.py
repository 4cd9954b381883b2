"""``medfollow demo``: the whole platform, end to end, on the embedded warehouse.

Generate a synthetic national delivery set, run every ingest DAG, the variant DAG and the
marts DAG through Airflow (``dag.test()``), then print what landed where and what the
genomic follow-up marts found against the generator's answer key. Safe to run twice: deliveries are
deterministic, so the second run's loads are recorded as skipped and nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg

from medfollow.cli.output import console, print_table, progress_callback
from medfollow.genomic_summary import genomic_follow_up
from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import KEY_ENV, create_key_file
from medfollow_core.warehouse.bootstrap import bootstrap
from medfollow_core.warehouse.catalog import table_exists
from medfollow_core.warehouse.connection import connect, database_url, redact


def run_demo(*, persons: int, genomes: int, seed: int) -> None:
    started = time.monotonic()
    demo_dir = config.state_dir() / "demo"
    url = database_url()
    bootstrap(url)
    console.print(f"[bold]warehouse[/] {redact(url)}")
    if not os.environ.get(KEY_ENV):
        key_path, created = create_key_file()
        console.print(
            f"[bold]pseudonymisation key[/] {'created' if created else 'using'} {key_path}"
        )

    landing = _synthesise(demo_dir, persons=persons, genomes=genomes, seed=seed)
    os.environ["MEDFOLLOW_LANDING_DIR"] = str(landing)
    # Synthetic data comes with the truth: linkage quality is then measured, not estimated.
    os.environ["MEDFOLLOW_LINKAGE_GROUND_TRUTH"] = str(demo_dir / "ground_truth")

    from medfollow.orchestration.runner import prepare, run_dag
    from medfollow_core.landing.contracts import families_register_first

    prepare(url)
    logfile = demo_dir / "airflow-runs.log"
    logfile.unlink(missing_ok=True)
    # The family holding the CPR register first: the other sources wait for the register of
    # their cut-off (as they would under the scheduler), and genomes for the opt-out register.
    # Genomes before the marts: the pharmacogenetic and FH marts read the genotypes the
    # variant DAG exports.
    dag_ids = [f"ingest_{family}" for family in families_register_first()] + [
        "variant_frequencies",
        "followup_marts",
        "variant_optout_sync",
    ]
    results = []
    with progress_callback("airflow dag.test()") as progress:
        for done, dag_id in enumerate(dag_ids):
            progress(dag_id, done, len(dag_ids))
            results.append(run_dag(dag_id, logfile, conf={"wait_for_deliveries": False}))
        progress("done", len(dag_ids), len(dag_ids))
    print_table(
        "DAG runs",
        ["dag", "state", "task instances"],
        [
            (r.dag_id, r.state, ", ".join(f"{k}: {v}" for k, v in sorted(r.task_states.items())))
            for r in results
        ],
    )
    _summarise(url)
    print_table(
        "genomic follow-up (against the generator's answer key)",
        ["measure", "value"],
        genomic_follow_up(url, demo_dir / "ground_truth").rows(),
    )
    console.print(f"Airflow task logs: {logfile}")
    console.print(
        'Explore: psql "$(medfollow db url)"  ·  medfollow deliveries  ·  medfollow airflow'
    )
    failed = [r.dag_id for r in results if not r.ok]
    if failed:
        raise MedfollowError(f"DAG runs failed: {', '.join(failed)} (see {logfile})")
    console.print(f"[bold green]demo finished[/] in {time.monotonic() - started:.0f} s")


def _synthesise(demo_dir: Path, *, persons: int, genomes: int, seed: int) -> Path:
    """Generate the delivery set unless the same one is already on disk."""
    from synthetic_deliveries import generate

    params = {"persons": persons, "genomes": genomes, "seed": seed}
    marker = demo_dir / "synth-params.json"
    landing = demo_dir / "landing"
    if marker.exists() and json.loads(marker.read_text()) == params and landing.is_dir():
        console.print(f"[bold]deliveries[/] reusing {landing}")
        return landing
    with progress_callback("synthesising deliveries") as progress:
        generate(demo_dir, persons=persons, seed=seed, genomes=genomes, progress=progress)
    marker.write_text(json.dumps(params) + "\n")
    console.print(f"[bold]deliveries[/] {persons:,} persons, {genomes:,} genomes -> {landing}")
    return landing


def _summarise(url: str) -> None:
    with connect(url) as conn:
        latest = conn.execute(
            """select distinct on (source, delivery_id) source, delivery_id, status, rows_loaded,
                      rows_quarantined, coalesce(reason, '')
                 from audit.deliveries order by source, delivery_id, attempt_id desc"""
        ).fetchall()
        tables = conn.execute(
            """select n.nspname || '.' || c.relname, c.reltuples::bigint
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname in ('marts', 'exports', 'linkage', 'variants')
                  and c.relkind in ('r', 'p') order by 1"""
        ).fetchall()
        counts = [(name, _row_count(conn, name)) for name, _ in tables]
        linkage = (
            conn.execute(
                """select source,
                      max(value) filter (where metric = 'link_rate'),
                      max(value) filter (where metric = 'review_queue_records'),
                      max(value) filter (where metric = 'true_precision'),
                      max(value) filter (where metric = 'true_recall'),
                      max(value) filter (where metric = 'true_f1')
                 from linkage.quality
                where run_id = (select max(run_id) from linkage.runs where status = 'finished')
                group by source order by source"""
            ).fetchall()
            if table_exists(conn, "linkage.quality")
            else []
        )
    print_table(
        "deliveries (latest attempt)",
        ["source", "delivery", "status", "rows loaded", "quarantined", "reason"],
        latest,
    )
    print_table("tables built (marts, exports, linkage, variants)", ["table", "rows"], counts)
    if linkage:
        print_table(
            "record linkage (latest run; true figures against the generator's truth)",
            ["source", "link rate", "in review", "precision", "recall", "F1"],
            [
                [s, _rate(rate), _count(queue), *(_rate(v) for v in true)]
                for s, rate, queue, *true in linkage
            ],
        )
    from medicinraadet_release.writer import REPORT_NAME, release_root

    releases = sorted(p for p in release_root().glob("medicinraadet-*") if p.is_dir())
    if releases:
        console.print(
            f"[bold]Medicinrådet release[/] {releases[-1]} (report: {releases[-1] / REPORT_NAME}); "
            "it awaits a second person's review: "
            f"medfollow release approve {releases[-1]} --reviewer NAME"
        )
    validation = config.state_dir() / "gx"
    if validation.is_dir():
        console.print(
            f"[bold]validation results[/] Great Expectations Data Docs per delivery under {validation}"
        )


def _row_count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"select count(*) from {table}").fetchone()
    assert row is not None  # count(*) always returns one row
    return int(row[0])


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _count(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"
