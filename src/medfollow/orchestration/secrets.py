"""Secrets for Airflow through its secrets-backend mechanism, never through the environment.

By default medfollow writes the warehouse connection and the pseudonymisation key into two
files readable by their owner only (``<state dir>/secrets/<digest>/``) and points Airflow's
``LocalFilesystemBackend`` at them; Airflow then answers ``BaseHook.get_connection`` and
``Variable.get`` from those files. A deployment that configures its own backend (Vault, AWS
Secrets Manager, GCP Secret Manager: ``AIRFLOW__SECRETS__BACKEND``) keeps it, and medfollow
writes nothing: the connection ``medfollow_warehouse`` and the variable
``medfollow_pseudonym_secret`` are then that backend's business.

A Celery worker on another machine needs neither file: a task asks the API server for a
connection or variable it cannot find locally (Airflow's execution-API secrets backend), and
the API server reads them here.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from medfollow_core.warehouse.connection import dsn_parts

LOCAL_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
BACKEND_ENV = "AIRFLOW__SECRETS__BACKEND"
BACKEND_KWARGS_ENV = "AIRFLOW__SECRETS__BACKEND_KWARGS"


def secrets_dir() -> Path:
    """``<state dir>/secrets``, mode 0700: the local backend's files and secret settings."""
    folder = config.state_dir() / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder


def own_backend_configured() -> bool:
    """Whether the deployment names a secrets backend of its own (medfollow then writes none)."""
    return os.environ.get(BACKEND_ENV, LOCAL_BACKEND) != LOCAL_BACKEND


def backend_env(warehouse_url: str) -> dict[str, str]:
    """Write the local backend's files for this warehouse (unless the deployment has its own
    backend) and return the variables that point Airflow at them.

    The files sit in a folder of this process (``p<pid>``), rewritten in place when the
    warehouse changes: Airflow initialises its secrets backends once per process, with the
    file paths of that moment, so the paths must not move; and processes sharing a state
    directory but not a warehouse (parallel test sessions, a demo beside the services)
    never overwrite each other's connection. Children (the services) read the folder of the
    process that started them; it is removed when that process exits."""
    if own_backend_configured():
        return {}
    folder = _process_folder()
    connections, variables = folder / "connections.json", folder / "variables.json"
    write_private(connections, json.dumps({config.WAREHOUSE_CONN_ID: _connection(warehouse_url)}))
    write_private(variables, json.dumps(_variables()))
    return {
        BACKEND_ENV: LOCAL_BACKEND,
        BACKEND_KWARGS_ENV: json.dumps(
            {"connections_file_path": str(connections), "variables_file_path": str(variables)}
        ),
    }


def _process_folder() -> Path:
    folder = secrets_dir() / f"p{os.getpid()}"
    if not folder.exists():
        folder.mkdir(mode=0o700)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def setting_env(name: str, value: str) -> dict[str, str]:
    """An Airflow setting whose value may hold a password (a database or broker URL): with a
    password it goes to a private file read through Airflow's ``<NAME>_CMD`` form, so the
    services' environments never hold it; without one it is set as is."""
    if not urlsplit(value).password:
        return {name: value}
    path = secrets_dir() / name.lower()
    write_private(path, value)
    return {f"{name}_CMD": f"cat {shlex.quote(str(path))}"}


def without_password(url: str) -> str:
    """``url`` with its password removed (what may travel in an environment variable)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + "@" if parts.username else ""
    return parts._replace(netloc=user + netloc[1]).geturl()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it atomically."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(partial, path)


def _connection(url: str) -> dict[str, object]:
    parts = dsn_parts(url)
    return {
        "conn_type": "postgres",
        "host": parts["host"],
        "port": int(parts["port"]),
        "login": parts["user"],
        "password": parts["password"],
        "schema": parts["dbname"],
    }


def _variables() -> dict[str, str]:
    """The pseudonymisation key, when one is configured here (environment or key file); with
    none, the variable is left out and a task that needs it says so."""
    try:
        return {config.PSEUDONYM_SECRET_VARIABLE: load_key().hex()}
    except MedfollowError:
        return {}
