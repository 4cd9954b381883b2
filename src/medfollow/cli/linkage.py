"""``medfollow linkage``: link the warehouse's sources, review uncertain pairs, report quality;
and ``medfollow link``: link any two files of people from a short YAML spec.

Heavy imports (Splink, DuckDB) happen inside the commands so that ``medfollow --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medfollow.cli.output import console, print_table, progress_callback
from medfollow_core.errors import MedfollowError

app = typer.Typer(
    help="Record linkage: one person_key for every record, with or without CPR.",
    no_args_is_help=True,
)


@app.command()
def run(
    ground_truth: Annotated[
        Path | None,
        typer.Option(
            "--ground-truth",
            help="Synthetic ground_truth/ folder: adds true precision, recall and F1",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    upper: Annotated[
        float,
        typer.Option(
            help="Link when the best candidate is at least this likely to be the record's person"
        ),
    ] = 0.95,
    lower: Annotated[
        float,
        typer.Option(
            help="Below --upper, send to review when the record is at least this likely to be "
            "someone in the register"
        ),
    ] = 0.50,
) -> None:
    """Link every source: CPR sources deterministically, the rest against the CPR register."""
    from medfollow_core.pseudonymise import load_key
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url
    from rwd_linkage.decide import Thresholds
    from rwd_linkage.run import run_linkage

    try:
        thresholds = Thresholds(upper=upper, lower=lower)
    except ValueError as exc:
        raise MedfollowError(str(exc)) from None
    key = load_key()
    url = database_url()
    bootstrap(url)
    with progress_callback("linkage") as progress:
        result = run_linkage(
            url, key, thresholds=thresholds, ground_truth=ground_truth, progress=progress
        )
    console.print(f"run {result.run_id}: {result.spine_persons:,} persons in the spine")
    if result.note:
        console.print(
            f"[yellow]records without CPR were not linked:[/] {result.note}", highlight=False
        )
    if result.key_changes:
        console.print(
            "key changes: " + ", ".join(f"{n:,} {e}" for e, n in result.key_changes.items())
        )
    _print_quality(result.run_id)


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest)")
    ] = None,
) -> None:
    """Print a run's quality: link rates, review queue, estimated and (synthetic) true F1."""
    _print_quality(run_id)


@app.command()
def review(
    source: Annotated[str | None, typer.Option(help="Only this source")] = None,
    limit: Annotated[int, typer.Option(help="At most this many pairs")] = 50,
) -> None:
    """List the pairs waiting for a reviewer (identifiers and comparison levels only)."""
    from medfollow_core.warehouse.connection import connect
    from rwd_linkage import review as reviewing

    with connect() as conn:
        rows = reviewing.queue(conn, source=source, limit=limit)
    print_table("linkage.review_queue", reviewing.QUEUE_COLUMNS, rows)


@app.command()
def decide(
    source: Annotated[str, typer.Argument(help="Source, e.g. outcomes_crossborder__patients")],
    record_id: Annotated[str, typer.Argument(help="The record's id in that source")],
    person_key: Annotated[str | None, typer.Option(help="The candidate decided on")] = None,
    match: Annotated[
        bool,
        typer.Option(
            "--match/--no-match", help="Same person, or not (without --person-key: nobody)"
        ),
    ] = True,
    note: Annotated[str | None, typer.Option(help="Why")] = None,
) -> None:
    """Record a review decision; the next `linkage run` applies it and keeps it."""
    from medfollow_core.warehouse.connection import connect
    from rwd_linkage import review as reviewing

    with connect() as conn:
        reviewing.record_decision(
            conn, source=source, record_id=record_id, person_key=person_key, match=match, note=note
        )
    console.print("decision recorded; it takes effect at the next `medfollow linkage run`")


def link_command(
    left: Annotated[Path, typer.Argument(help="Left file (.csv or .parquet)")],
    right: Annotated[Path, typer.Argument(help="Right file (.csv or .parquet)")],
    spec: Annotated[Path, typer.Option("--spec", help="Linkage spec (YAML)")],
    out: Annotated[
        Path, typer.Option("--out", help="Output CSV: left_id,right_id,match_probability")
    ],
    model: Annotated[
        Path | None, typer.Option("--model", help="Also save the trained model (JSON)")
    ] = None,
) -> None:
    """Link two files of people with a Fellegi–Sunter model trained on them (Splink)."""
    import json

    from rwd_linkage.general import link_files
    from rwd_linkage.spec import load_spec

    link_spec = load_spec(spec)
    with progress_callback("link") as progress:
        result = link_files(left, right, link_spec, out, progress=progress)
    if model:
        model.write_text(json.dumps(result.model_json, indent=2, sort_keys=True), encoding="utf-8")
    console.print(
        f"{result.pairs:,} pairs from {result.left_rows:,} × {result.right_rows:,} "
        f"records written to {out}"
    )


def _print_quality(run_id: str | None) -> None:
    from medfollow_core.warehouse.connection import connect
    from rwd_linkage.report import load

    with connect() as conn:
        found = load(conn, run_id)
    run = found.run
    console.print(
        f"linkage run {run['run_id']} ({run['status']}), thresholds "
        f"{run['lower_threshold']}–{run['upper_threshold']}, "
        f"{run['spine_persons'] or 0:,} persons in the spine"
    )
    if run["message"]:
        console.print(f"note: {run['message']}", highlight=False)
    columns, rows = found.extract_table()
    if rows:
        print_table("records without CPR (linked against the CPR register)", columns, rows)
    columns, rows = found.cpr_table()
    if rows:
        print_table("records with CPR (deterministic)", columns, rows)
    totals = found.totals()
    if totals:
        console.print(
            f"all sources: {totals.get('records', 0):,.0f} records, "
            f"{totals.get('link_rate', 0):.2%} linked, "
            f"{totals.get('review_queue_records', 0):,.0f} awaiting review, "
            f"{totals.get('minted', 0):,.0f} with a key of their own"
        )
