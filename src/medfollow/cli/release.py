"""``medfollow release``: immutable, disclosure-controlled releases of the follow-up tables."""

from __future__ import annotations

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
) -> None:
    """Write the Medicinrådet release of CUTOFF into OUT/medicinraadet-CUTOFF.

    Refuses when that release exists already (releases are never overwritten) or when the
    warehouse's export tables were built for another cut-off.
    """
    from medfollow_core.warehouse.connection import database_url
    from medicinraadet_release import write_release

    path = write_release(database_url(), cutoff.date(), out)
    console.print(f"wrote release {path}")
