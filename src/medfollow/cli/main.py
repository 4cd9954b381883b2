"""``medfollow``: run the platform locally, load deliveries, look at what happened.

Expected failures (MedfollowError) print one line and exit 1; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from medfollow.cli import airflow as airflow_commands
from medfollow.cli import db as db_commands
from medfollow.cli import docs as docs_commands
from medfollow.cli import linkage as linkage_commands
from medfollow.cli import release as release_commands
from medfollow.cli import variants as variants_commands
from medfollow.cli.output import console, err_console, print_table, progress_callback
from medfollow_core.errors import MedfollowError

app = typer.Typer(
    help="medfollow — Danish registry follow-up and national variant frequencies.\n\n"
    "Start with `medfollow demo`; `medfollow COMMAND --help` explains each command.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(airflow_commands.app, name="airflow")
app.add_typer(db_commands.app, name="db")
app.add_typer(variants_commands.app, name="variants")
app.add_typer(release_commands.app, name="release")
app.add_typer(docs_commands.app, name="docs")
app.add_typer(linkage_commands.app, name="linkage")
app.command("link")(linkage_commands.link_command)
key_app = typer.Typer(help="The pseudonymisation key (HMAC secret).", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("init")
def key_init(
    path: Annotated[
        Path | None, typer.Option(help="Key file (default ~/.config/medfollow/pseudonym.key)")
    ] = None,
) -> None:
    """Create a local key file outside the repository (for local runs and the demo)."""
    from medfollow_core.pseudonymise import create_key_file

    where, created = create_key_file(path)
    console.print(f"{'created' if created else 'kept existing'} key file {where}")


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option(help="Output directory (landing/ and ground_truth/ go here)")
    ],
    persons: Annotated[int, typer.Option(min=100, help="Population size")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives byte-identical output")
    ] = 1,
    genomes: Annotated[int, typer.Option(min=0, help="Number of sequenced genomes")] = 0,
    cutoff: Annotated[str, typer.Option(help="Data cut-off date, YYYY-MM-DD")] = "2026-09-30",
) -> None:
    """Write synthetic national deliveries (every source, with manifests and ground truth)."""
    from synthetic_deliveries import generate

    with progress_callback("synthesising") as progress:
        result = generate(
            out,
            persons=persons,
            seed=seed,
            genomes=genomes,
            cutoff=_date(cutoff),
            progress=progress,
        )
    console.print(
        f"wrote {len(result.deliveries)} deliveries to {out / 'landing'}; "
        f"ground truth in {result.ground_truth}"
    )


@app.command()
def ingest(
    source: Annotated[
        str, typer.Argument(help="Source name, e.g. cpr, lpr3, lab (see `medfollow sources`)")
    ],
    path: Annotated[
        Path, typer.Argument(help="Delivery folder holding manifest.json and the data files")
    ],
    force_reason: Annotated[
        str | None,
        typer.Option(
            "--force-reason",
            help="Load a snapshot that empties or sharply shrinks a register (refused "
            "otherwise); the reason is recorded in the audit",
        ),
    ] = None,
) -> None:
    """Load one delivery through the same path the Airflow DAG uses.

    Exits non-zero with a one-line reason when the delivery is refused or the load failed.
    """
    from medfollow_core.pseudonymise import load_key
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url
    from registry_ingest.pipeline import ingest_delivery

    key = load_key()
    url = database_url()
    bootstrap(url)
    with progress_callback(f"ingest {source}") as progress:
        outcome = ingest_delivery(
            path, url=url, key=key, source=source, progress=progress, force_reason=force_reason
        )
    if outcome.status in ("refused", "failed"):
        raise MedfollowError(outcome.summary())
    console.print(outcome.summary())
    if outcome.mod11_warnings:
        console.print(
            f"note: {outcome.mod11_warnings:,} CPR numbers fail modulus-11 "
            "(valid for numbers issued since 2007; loaded)"
        )


@app.command()
def sources(
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the full contracts as Markdown (docs/contracts.md)"),
    ] = False,
) -> None:
    """List the declared sources and their raw tables."""
    from medfollow_core.landing.contracts import all_contracts

    if markdown:
        from registry_ingest.contract_docs import render_markdown

        typer.echo(render_markdown(), nl=False)
        return

    rows = [
        (c.source, c.family, c.mode, c.format, ", ".join(c.raw_table(t) for t in c.tables))
        for c in all_contracts().values()
    ]
    print_table("sources", ["source", "family", "mode", "format", "raw tables"], rows)


@app.command()
def deliveries(
    source: Annotated[str | None, typer.Option(help="Only this source")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N attempts")] = 50,
) -> None:
    """Show audit.deliveries: every delivery attempt and its fate."""
    from medfollow_core.landing.audit import AUDIT_COLUMNS, recent
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import connect, database_url

    url = database_url()
    bootstrap(url)
    with connect(url) as conn:
        rows = recent(conn, limit=limit, source=source)
    shown = [c for c in AUDIT_COLUMNS if c not in ("started_at", "airflow_run_id")]
    index = [AUDIT_COLUMNS.index(c) for c in shown]
    print_table("audit.deliveries", shown, [[r[i] for i in index] for r in rows])


@app.command()
def demo(
    persons: Annotated[int, typer.Option(help="Population size")] = 20_000,
    genomes: Annotated[int, typer.Option(help="Sequenced genomes")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed")] = 1,
) -> None:
    """Run the whole platform end-to-end on the embedded warehouse and print what happened."""
    from medfollow.demo import run_demo

    run_demo(persons=persons, genomes=genomes, seed=seed)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MedfollowError(f"not a date (YYYY-MM-DD): {text!r}") from None


def run() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] == ["variants"]:
        variants_commands.lean_process()
    try:
        app()
    except MedfollowError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
