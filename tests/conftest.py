"""Shared fixtures: a real PostgreSQL (embedded by default), a fresh database per test
module, a test pseudonymisation key and a project-local Airflow for dag.test().

Set MEDFOLLOW_TEST_DATABASE_URL to run the integration tests against another server; each
test module still gets its own throw-away database on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_STATE = ROOT / ".state" / "test"

# Everything a test run touches lives under .state/test, never the demo's state; set before
# medfollow or airflow is imported anywhere.
os.environ["MEDFOLLOW_STATE_DIR"] = str(TEST_STATE)
os.environ.pop("MEDFOLLOW_DATABASE_URL", None)
os.environ["MEDFOLLOW_PSEUDONYM_KEY"] = "6d656466" * 16  # a test-only key, 256 bits
os.environ["MEDFOLLOW_PSEUDONYM_KEY_FILE"] = str(TEST_STATE / "no-key-file")

from medfollow.orchestration import environment  # noqa: E402
from medfollow_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402
from support.databases import fresh_database  # noqa: E402

environment.apply(
    "postgresql://postgres@127.0.0.1:5432/medfollow"
)  # placeholder until a fixture sets it

TEST_KEY = bytes.fromhex(os.environ["MEDFOLLOW_PSEUDONYM_KEY"])


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The DSN of a server tests may create databases on; an embedded server started here is
    stopped again at the end of the session."""
    external = os.environ.get("MEDFOLLOW_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(TEST_STATE / "warehouse" / "pgdata")
    was_running = server.status().running
    yield server.start().url or ""
    if not was_running:
        server.stop()


@pytest.fixture(scope="module")
def db_url(server_url: str) -> Iterator[str]:
    """A fresh, bootstrapped database for one test module, dropped afterwards."""
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def key() -> bytes:
    """The test-only pseudonymisation key (also in MEDFOLLOW_PSEUDONYM_KEY for subprocesses)."""
    return TEST_KEY


@pytest.fixture(scope="session")
def airflow_metadata(server_url: str) -> Path:
    """A migrated Airflow metadata database under .state/test/airflow (once per session)."""
    from medfollow.orchestration.runner import prepare

    return prepare(server_url)
