"""``medfollow release``: immutable, disclosure-controlled releases of the follow-up tables."""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from medfollow.cli.output import console

app = typer.Typer(no_args_is_help=True)


@app.callback()
def release() -> None:
    """Releases of the follow-up tables (CSV, XLSX, HTML report, manifest)."""


@app.command()
def medicinraadet(
    cutoff: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="Data cut-off the marts were built for")
    ],
    out: Annotated[
        Path, typer.Option(help="Folder the release folder is written into", file_okay=False)
    ],
    builder: Annotated[
        str, typer.Option(help="Who builds the release (default: the current user)")
    ] = "",
) -> None:
    """Protect, audit and write the Medicinrådet release of CUTOFF into
    OUT/medicinraadet-CUTOFF, awaiting a second person's review.

    Refuses when that release exists already (releases are never overwritten), when the
    warehouse's export tables were built for another cut-off, or when the disclosure audit
    finds a cell a reader could work out (naming it).
    """
    from medfollow_core.warehouse.connection import database_url
    from medicinraadet_release import write_release

    path = write_release(database_url(), cutoff.date(), out, built_by=builder or getpass.getuser())
    console.print(f"wrote release {path} (awaiting review: medfollow release approve {path})")


@app.command()
def approve(
    release_folder: Annotated[
        Path, typer.Argument(help="The release folder (or its name under the release root)")
    ],
    reviewer: Annotated[str, typer.Option(help="The reviewer's name (not the builder's)")],
) -> None:
    """Approve a release awaiting review: a second person, not its builder, checks it and
    marks it for delivery. Its files are re-checked against the manifest first."""
    from medicinraadet_release import approve_release, release_root

    folder = release_folder if release_folder.exists() else release_root() / release_folder
    manifest = approve_release(folder, reviewer)
    review = manifest["review"]
    console.print(
        f"approved {folder.name}: built by {review['built_by']}, approved by "
        f"{review['approved_by']}; ready for delivery"
    )
