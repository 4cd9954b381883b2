"""``medfollow db``: the warehouse — start, stop, status, DSN, psql.

The warehouse modules (psycopg) are imported by the commands that use them, not when the
CLI starts: every other command (``medfollow variants ingest --no-warehouse``) would pay
for them."""

from __future__ import annotations

import os
import shutil
import subprocess

import typer

from medfollow.cli.output import console
from medfollow_core import config
from medfollow_core.errors import MedfollowError

app = typer.Typer(
    help="The warehouse: embedded PostgreSQL by default, or MEDFOLLOW_DATABASE_URL.",
    no_args_is_help=True,
)


@app.command()
def start() -> None:
    """Start the embedded PostgreSQL (no-op with MEDFOLLOW_DATABASE_URL) and create schemas."""
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url, redact

    url = database_url()
    bootstrap(url)
    console.print(f"warehouse ready: {redact(url)}")


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL."""
    if config.configured_database_url():
        raise MedfollowError("MEDFOLLOW_DATABASE_URL is set: that server is not ours to stop")
    from medfollow_core.warehouse.connection import embedded_server

    stopped = embedded_server().stop()
    console.print("stopped" if stopped else "not running")


@app.command()
def status() -> None:
    """Say which warehouse is configured and whether it is running."""
    from medfollow_core.warehouse.connection import embedded_server, redact

    if configured := config.configured_database_url():
        console.print(f"external warehouse (MEDFOLLOW_DATABASE_URL): {redact(configured)}")
        return
    state = embedded_server().status()
    if state.running:
        console.print(
            f"embedded PostgreSQL running (pid {state.pid}) at {state.url}; data in {state.pgdata}"
        )
    else:
        console.print(f"embedded PostgreSQL stopped; data in {state.pgdata}")
        raise typer.Exit(3)


@app.command()
def url() -> None:
    """Print the warehouse DSN (starting the embedded server if needed); `psql "$(medfollow db url)"` works."""
    from medfollow_core.warehouse.connection import database_url

    typer.echo(database_url())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql(ctx: typer.Context) -> None:
    """Open psql on the warehouse; extra arguments are passed to psql."""
    from medfollow_core.warehouse.connection import database_url

    binary = _psql_binary()
    raise typer.Exit(subprocess.call([binary, database_url(), *ctx.args], env=os.environ.copy()))


def _psql_binary() -> str:
    """The psql that ships with the embedded server, else one on PATH."""
    from medfollow_core.warehouse.embedded import bundled_binary

    bundled = bundled_binary("psql")
    if bundled.exists():
        return str(bundled)
    found = shutil.which("psql")
    if not found:
        raise MedfollowError("no psql found (install postgresql-client)")
    return found
