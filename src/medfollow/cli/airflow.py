"""``medfollow airflow``: the Airflow services of this project, and Celery workers."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from medfollow.cli.output import console

app = typer.Typer(
    help="Airflow services: scheduler, DAG processor, triggerer, API server (and workers).",
    invoke_without_command=True,
)

CPUS = max(1, os.cpu_count() or 1)


class ExecutorChoice(StrEnum):
    local = "local"
    celery = "celery"


def _say(line: str) -> None:
    console.print(f"[bold]medfollow airflow[/bold] {line}", highlight=False)


@app.callback()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="API server and UI port")] = 8080,
    host: Annotated[
        str, typer.Option(help="API server bind address (0.0.0.0 for workers elsewhere)")
    ] = "127.0.0.1",
    executor: Annotated[
        ExecutorChoice, typer.Option(help="local (one machine) or celery (workers anywhere)")
    ] = ExecutorChoice.local,
    broker: Annotated[
        str | None,
        typer.Option(envvar="MEDFOLLOW_AIRFLOW_BROKER_URL", help="Celery broker (redis://...)"),
    ] = None,
    parallelism: Annotated[
        int, typer.Option(min=1, help="Task slots across the deployment")
    ] = CPUS,
    dbt_slots: Annotated[
        int, typer.Option(min=1, help="Slots of the dbt pool (dbt build tasks at once)")
    ] = CPUS,
    queue: Annotated[str, typer.Option(help="Celery queue tasks go to")] = "default",
) -> None:
    """Start the scheduler, DAG processor, triggerer and API server as supervised services
    on PostgreSQL metadata (restarted when they die; Ctrl-C stops them all)."""
    if ctx.invoked_subcommand is not None:
        return
    from medfollow.orchestration.services import Deployment, serve

    deployment = Deployment(
        port=port,
        host=host,
        executor="celery" if executor is ExecutorChoice.celery else "local",
        parallelism=parallelism,
        dbt_slots=dbt_slots,
        broker=broker,
        queue=queue,
    )
    raise typer.Exit(serve(deployment, _say))


@app.command()
def worker(
    api_url: Annotated[
        str,
        typer.Option(envvar="MEDFOLLOW_AIRFLOW_API_URL", help="The API server: http://host:port"),
    ],
    broker: Annotated[
        str, typer.Option(envvar="MEDFOLLOW_AIRFLOW_BROKER_URL", help="Celery broker (redis://...)")
    ],
    metadata_url: Annotated[
        str,
        typer.Option(
            envvar="MEDFOLLOW_AIRFLOW_DATABASE_URL",
            help="The metadata database (Celery's result backend), postgresql://...",
        ),
    ],
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks at once on this machine")] = CPUS,
    queue: Annotated[str, typer.Option(help="Celery queue to take tasks from")] = "default",
) -> None:
    """Start a Celery worker (on this or another machine that mounts the shared root)."""
    from medfollow.orchestration.services import work

    raise typer.Exit(
        work(
            api_url=api_url,
            broker=broker,
            metadata=metadata_url,
            concurrency=concurrency,
            queue=queue,
            say=_say,
        )
    )
