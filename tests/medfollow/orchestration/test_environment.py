"""What the Airflow services are told: secrets through the backend's private files and never
the environment, metadata on PostgreSQL, the execution API where the API server listens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from medfollow.orchestration import environment, metadata, secrets, services
from medfollow_core import config
from medfollow_core.errors import MedfollowError

WAREHOUSE = "postgresql://etl:s3cret-pw@db.example:6543/medfollow"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDFOLLOW_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(secrets.BACKEND_ENV, raising=False)
    return tmp_path


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_local_backend_files_hold_the_secrets_privately(state: Path) -> None:
    env = secrets.backend_env(WAREHOUSE)
    kwargs = json.loads(env[secrets.BACKEND_KWARGS_ENV])
    connections = Path(kwargs["connections_file_path"])
    variables = Path(kwargs["variables_file_path"])
    assert env[secrets.BACKEND_ENV] == secrets.LOCAL_BACKEND
    assert _mode(connections) == _mode(variables) == 0o600
    assert _mode(connections.parent) == 0o700
    conn = json.loads(connections.read_text())[config.WAREHOUSE_CONN_ID]
    assert (conn["host"], conn["port"], conn["login"], conn["password"]) == (
        "db.example",
        6543,
        "etl",
        "s3cret-pw",
    )
    key = json.loads(variables.read_text())[config.PSEUDONYM_SECRET_VARIABLE]
    assert bytes.fromhex(key) == bytes.fromhex(os.environ["MEDFOLLOW_PSEUDONYM_KEY"])


def test_airflow_reads_the_connection_from_the_backend(state: Path) -> None:
    """The files are in the format Airflow's own LocalFilesystemBackend reads."""
    from airflow.secrets.local_filesystem import LocalFilesystemBackend

    kwargs = json.loads(secrets.backend_env(WAREHOUSE)[secrets.BACKEND_KWARGS_ENV])
    backend = LocalFilesystemBackend(**kwargs)
    conn = backend.get_connection(config.WAREHOUSE_CONN_ID)
    assert conn is not None and conn.password == "s3cret-pw" and conn.schema == "medfollow"
    assert backend.get_variable(config.PSEUDONYM_SECRET_VARIABLE)


def test_a_backend_of_the_deployment_is_kept_and_nothing_is_written(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(secrets.BACKEND_ENV, "airflow.providers.hashicorp.secrets.vault.Vault")
    assert secrets.backend_env(WAREHOUSE) == {}
    assert not list(state.rglob("connections.json"))


def test_two_warehouses_on_one_state_directory_keep_their_own_connection(state: Path) -> None:
    """Test sessions (or a demo beside the services) share a state directory: another
    process writing the backend for its warehouse must not repoint this one; and within a
    process the files stay where Airflow, which loads its backends once, first found them."""
    first = json.loads(secrets.backend_env(WAREHOUSE)[secrets.BACKEND_KWARGS_ENV])
    other = WAREHOUSE.replace("/medfollow", "/medfollow_other")
    code = (
        "import json, sys; from medfollow.orchestration import secrets; "
        "print(json.loads(secrets.backend_env(sys.argv[1])[secrets.BACKEND_KWARGS_ENV])"
        "['connections_file_path'])"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code, other],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MEDFOLLOW_STATE_DIR": str(state)},
    ).stdout.strip()
    assert elsewhere != first["connections_file_path"]
    kept = json.loads(Path(first["connections_file_path"]).read_text())
    assert kept[config.WAREHOUSE_CONN_ID]["schema"] == "medfollow"
    assert not Path(elsewhere).exists()  # removed when that process ended

    again = json.loads(secrets.backend_env(other)[secrets.BACKEND_KWARGS_ENV])
    assert again["connections_file_path"] == first["connections_file_path"]
    moved = json.loads(Path(again["connections_file_path"]).read_text())
    assert moved[config.WAREHOUSE_CONN_ID]["schema"] == "medfollow_other"


def test_no_service_inherits_a_password_or_the_key(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", WAREHOUSE)
    monkeypatch.setenv("AIRFLOW_CONN_MEDFOLLOW_WAREHOUSE", WAREHOUSE)
    env = environment.service_env(environment.platform_env(WAREHOUSE))
    text = "\n".join(f"{k}={v}" for k, v in env.items())
    assert "s3cret-pw" not in text
    assert os.environ["MEDFOLLOW_PSEUDONYM_KEY"] not in text
    assert "AIRFLOW_CONN_" not in text
    assert env["MEDFOLLOW_DATABASE_URL"] == "postgresql://etl@db.example:6543/medfollow"
    assert env[secrets.BACKEND_ENV] == secrets.LOCAL_BACKEND


def test_a_setting_with_a_password_is_read_from_a_private_file(state: Path) -> None:
    broker = "redis://:broker-pw@redis.example:6379/0"
    env = secrets.setting_env("AIRFLOW__CELERY__BROKER_URL", broker)
    assert list(env) == ["AIRFLOW__CELERY__BROKER_URL_CMD"]
    # Airflow runs the _CMD value through a shell and uses its output
    run = subprocess.run(
        env["AIRFLOW__CELERY__BROKER_URL_CMD"], shell=True, capture_output=True, text=True
    )
    assert run.stdout == broker
    assert _mode(state / "secrets" / "airflow__celery__broker_url") == 0o600
    plain = "redis://redis.example:6379/0"
    assert secrets.setting_env("AIRFLOW__CELERY__BROKER_URL", plain) == {
        "AIRFLOW__CELERY__BROKER_URL": plain
    }


def test_the_execution_api_follows_the_port(state: Path) -> None:
    deployment = services.Deployment(port=18123)
    env = services.service_settings(deployment, "postgresql+psycopg2://u@h/airflow")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["AIRFLOW__API__PORT"] == "18123"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(deployment.parallelism)


def test_celery_needs_a_broker_and_keeps_results_in_the_metadata_database(state: Path) -> None:
    with pytest.raises(MedfollowError, match="broker"):
        services.executor_env(services.Deployment(executor="celery"), "postgresql+psycopg2://h/a")
    env = services.executor_env(
        services.Deployment(executor="celery", broker="redis://r:6379/0", queue="q1"),
        "postgresql+psycopg2://u@h:5432/airflow",
    )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://u@h:5432/airflow"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "q1"


def test_services_refuse_sqlite_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metadata.AIRFLOW_SQLALCHEMY_ENV, "sqlite:////tmp/airflow.db")
    with pytest.raises(MedfollowError, match="PostgreSQL"):
        metadata.metadata_url(WAREHOUSE)


@pytest.mark.integration
def test_the_metadata_database_is_created_beside_the_warehouse(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(metadata.AIRFLOW_SQLALCHEMY_ENV, raising=False)
    name = f"medfollow_test_af_{uuid.uuid4().hex[:8]}"
    url = urlsplit(server_url)._replace(path=f"/{name}").geturl()
    monkeypatch.setenv(metadata.METADATA_URL_ENV, url)
    try:
        assert metadata.metadata_url(server_url) == metadata.sqlalchemy_url(url)
        with psycopg.connect(url) as conn:  # it exists now
            assert conn.execute("select current_database()").fetchone() == (name,)
        metadata.metadata_url(server_url)  # and a second start finds it
    finally:
        admin = urlsplit(server_url)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
