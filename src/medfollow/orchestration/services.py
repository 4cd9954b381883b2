"""Airflow as it runs in production: scheduler, DAG processor, triggerer and API server as
separate supervised services on PostgreSQL metadata, tasks on the local executor or on
Celery workers that may sit on other machines.

Two modes:

* ``local`` (the laptop default): LocalExecutor, parallelism capped at the number of cores,
  a ``dbt`` pool of as many slots for the dbt tasks (dbt is CPU-bound; sensors are not,
  so a deployment that polls often raises the parallelism and keeps the pool).
* ``celery``: CeleryExecutor with a Redis broker and the metadata database as result
  backend; ``medfollow airflow worker`` starts a worker on any machine that mounts the
  shared root, reaches the broker and the API server. Such a worker holds no secret: its
  tasks get the warehouse connection and key from the API server.

The execution API URL tasks report to is derived from the API server's host and port.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.error import URLError

from medfollow.orchestration import environment, secrets
from medfollow.orchestration.metadata import libpq_url
from medfollow.orchestration.supervisor import Say, Service, Supervisor
from medfollow_core.errors import MedfollowError

Executor = Literal["local", "celery"]


@dataclass(frozen=True)
class Deployment:
    """What the services are told about each other."""

    port: int = 8080
    host: str = "127.0.0.1"
    executor: Executor = "local"
    parallelism: int = max(1, os.cpu_count() or 1)
    dbt_slots: int = max(1, os.cpu_count() or 1)
    broker: str | None = None
    queue: str = "default"

    @property
    def api_url(self) -> str:
        """Where workers and browsers reach the API server: the bind address, or this
        machine's name when it listens on every interface."""
        host = socket.getfqdn() if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def execution_api_env(api_url: str) -> dict[str, str]:
    base = api_url.rstrip("/")
    return {
        "AIRFLOW__API__BASE_URL": f"{base}/",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
    }


CELERY_CONFIG_OPTIONS = "medfollow_airflow.celery_config.CELERY_CONFIG"


def executor_env(deployment: Deployment, metadata: str) -> dict[str, str]:
    """The executor, its limits and (Celery) its broker and result backend."""
    env = {
        "AIRFLOW__CORE__PARALLELISM": str(deployment.parallelism),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": deployment.queue,
    }
    if deployment.executor == "local":
        return env | {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    if not deployment.broker:
        raise MedfollowError("the celery executor needs a broker: --broker redis://HOST:6379/0")
    return (
        env
        | {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            # workers import dbt and Cosmos once, before forking the task processes
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG_OPTIONS,
        }
        | secrets.setting_env("AIRFLOW__CELERY__BROKER_URL", deployment.broker)
        | secrets.setting_env("AIRFLOW__CELERY__RESULT_BACKEND", f"db+{libpq_url(metadata)}")
    )


def service_settings(deployment: Deployment, metadata: str) -> dict[str, str]:
    """Settings every service shares, beyond the platform environment."""
    return (
        execution_api_env(deployment.api_url)
        | executor_env(deployment, metadata)
        | {
            # deliveries flow without anybody unpausing a DAG
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": deployment.host,
            "AIRFLOW__API__PORT": str(deployment.port),
            "AIRFLOW__API__WORKERS": os.environ.get("AIRFLOW__API__WORKERS", "1"),
            # log servers beside the API port, so two deployments on one host do not collide
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(deployment.port + 1),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(deployment.port + 2),
        }
    )


def serve(deployment: Deployment, say: Say) -> int:
    """``medfollow airflow``: bootstrap the warehouse, prepare Airflow on PostgreSQL
    metadata, and supervise the control plane until SIGINT/SIGTERM."""
    from medfollow.orchestration.metadata import metadata_url
    from medfollow.orchestration.runner import prepare
    from medfollow_core.warehouse.bootstrap import bootstrap
    from medfollow_core.warehouse.connection import database_url

    url = database_url()
    bootstrap(url)
    metadata = metadata_url(url)
    home = prepare(url, metadata=metadata, dbt_pool_slots=deployment.dbt_slots)
    env = environment.service_env(service_settings(deployment, metadata))
    say(
        f"{deployment.executor} executor, metadata on PostgreSQL, UI at {deployment.api_url} "
        f"(user admin, password in {home / 'simple_auth_manager_passwords.json.generated'})"
    )
    return supervise(control_plane(deployment), env=env, say=say, api_url=deployment.api_url)


def work(
    *, api_url: str, broker: str, metadata: str, concurrency: int, queue: str, say: Say
) -> int:
    """``medfollow airflow worker``: a Celery worker for the deployment whose API server is
    at ``api_url``. It needs the broker, the result backend (the metadata database), the
    API server and the shared root; no warehouse password and no key."""
    from medfollow.orchestration.metadata import sqlalchemy_url
    from medfollow.orchestration.runner import build_manifest

    os.environ.update(environment.airflow_env())
    build_manifest()  # the marts DAG is rendered from it when a task parses its DAG file
    deployment = Deployment(executor="celery", broker=broker, queue=queue)
    env = environment.service_env(
        execution_api_env(api_url) | executor_env(deployment, sqlalchemy_url(metadata))
    )
    for name in (secrets.BACKEND_ENV, secrets.BACKEND_KWARGS_ENV):
        env.pop(name, None)  # tasks ask the API server for connections and variables
    say(f"celery worker for {api_url}, queue {queue}, concurrency {concurrency}")
    return supervise(celery_worker(concurrency, queue), env=env, say=say, api_url=api_url)


def control_plane(deployment: Deployment) -> list[Service]:
    airflow = _airflow()
    return [
        Service("scheduler", [airflow, "scheduler"]),
        Service("dag-processor", [airflow, "dag-processor"]),
        Service("triggerer", [airflow, "triggerer"]),
        Service(
            "api-server",
            [airflow, "api-server", "--host", deployment.host, "--port", str(deployment.port)],
        ),
    ]


def celery_worker(concurrency: int, queue: str) -> list[Service]:
    return [
        Service(
            "celery-worker",
            [_airflow(), "celery", "worker", "--concurrency", str(concurrency), "-q", queue],
        )
    ]


def supervise(services: list[Service], *, env: dict[str, str], say: Say, api_url: str) -> int:
    """Run ``services`` under a supervisor until SIGINT/SIGTERM (logs under the Airflow
    home's ``services/``); announces once the API server answers its health check."""
    logs = environment.airflow_home() / "services"
    supervisor = Supervisor(services, logs=logs, env=env, say=say)
    return supervisor.run(ready=lambda: api_healthy(api_url), on_ready=say)


def api_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except (URLError, OSError):
        return False


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")
