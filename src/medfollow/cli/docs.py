"""``medfollow docs``: the dbt documentation of the marts, generated against the warehouse
and served on localhost (model, column and seed descriptions, lineage, tests)."""

from __future__ import annotations

import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated

import typer

from medfollow.cli.output import console
from medfollow_core import config
from medfollow_core.errors import MedfollowError

app = typer.Typer(help="dbt documentation of the marts.")


@app.callback(invoke_without_command=True)
def docs(
    port: Annotated[int, typer.Option(help="Port on localhost to serve the site on")] = 8081,
    generate: Annotated[bool, typer.Option(help="Run `dbt docs generate` first")] = True,
) -> None:
    """Generate the dbt docs site for the warehouse and serve it on http://localhost:PORT."""
    target = config.DBT_PROJECT_DIR / "target"
    if generate:
        generate_docs()
    if not (target / "index.html").exists():
        raise MedfollowError(f"no docs site in {target}: run without --no-generate")
    handler = partial(SimpleHTTPRequestHandler, directory=str(target))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise MedfollowError(f"cannot serve on port {port}: {exc.strerror}") from None
    console.print(f"dbt docs on http://localhost:{port} (Ctrl-C to stop)")
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            console.print("stopped")


def generate_docs() -> None:
    """`dbt docs generate` in-process, against the configured warehouse."""
    from medfollow.orchestration.environment import platform_env
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url

    url = database_url()
    bootstrap(url)
    os.environ.update(platform_env(url))
    from dbt.cli.main import dbtRunner

    project = str(config.DBT_PROJECT_DIR)
    result = dbtRunner().invoke(
        ["docs", "generate", "--project-dir", project, "--profiles-dir", project, "--quiet"]
    )
    if not result.success:
        raise MedfollowError(f"dbt docs generate failed: {result.exception or 'see dbt/logs'}")
