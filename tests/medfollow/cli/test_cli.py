"""The command line: expected failures are one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.deliveries import write_delivery

pytestmark = pytest.mark.integration


def medfollow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medfollow.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_explains_every_command() -> None:
    out = medfollow("--help").stdout
    for command in ("demo", "synth", "ingest", "deliveries", "db", "airflow"):
        assert command in out


def test_refused_delivery_exits_nonzero_with_one_line(db_url: str, tmp_path: Path) -> None:
    folder = write_delivery(tmp_path, "cpr", {"persons": []}, delivery_id="cpr-broken")
    (folder / "cpr_persons.csv").write_text("cpr;koen\n")
    result = medfollow("ingest", "cpr", str(folder), env={"MEDFOLLOW_DATABASE_URL": db_url})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "refused" in lines[0] and "checksum" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_source_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    result = medfollow("ingest", "nosuch", str(tmp_path), env={"MEDFOLLOW_DATABASE_URL": db_url})
    assert result.returncode == 1
    assert "unknown source 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_deliveries_prints_the_audit_table(db_url: str) -> None:
    result = medfollow("deliveries", env={"MEDFOLLOW_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert "audit.deliveries" in result.stdout


def test_db_url_prints_a_dsn(db_url: str) -> None:
    result = medfollow("db", "url", env={"MEDFOLLOW_DATABASE_URL": db_url})
    assert result.stdout.strip() == db_url
