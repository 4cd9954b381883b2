"""The command line: expected failures are one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medfollow.cli.main import app
from support.cli import flat, listed_commands, names, own_parameters, show_help, walk
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


# Each top-level command: a phrase of its own docstring, and the arguments, options or
# subcommands its own --help must name.
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "synth": (
        "Write synthetic national deliveries",
        ("--out", "--persons", "--seed", "--genomes", "--cutoff"),
    ),
    "ingest": ("Load one delivery through the same path the Airflow DAG uses", ("source", "path")),
    "sources": ("List the declared sources and their raw tables", ("--markdown",)),
    "deliveries": ("Show audit.deliveries: every delivery attempt", ("--source", "--limit")),
    "airflow": (
        "Airflow services: scheduler, DAG processor, triggerer, API server",
        ("--port", "--executor", "--broker", "worker"),
    ),
    "demo": ("Run the whole platform end-to-end", ("--persons", "--genomes", "--seed")),
    "link": ("Link two files of people", ("left", "right", "--spec", "--out", "--model")),
    "db": ("The warehouse: embedded PostgreSQL", ("start", "stop", "status", "url", "psql")),
    "variants": (
        "National variant frequencies",
        ("ingest", "remove", "sync-optouts", "lookup", "export", "releases", "verify", "serve"),
    ),
    "release": ("Releases of the follow-up tables", ("medicinraadet",)),
    "docs": ("dbt documentation of the marts", ("--port", "--generate")),
    "linkage": ("Record linkage", ("run", "report", "review", "decide")),
    "key": ("The pseudonymisation key", ("init",)),
}


def test_the_installed_entry_point_lists_exactly_the_commands() -> None:
    result = medfollow("--help")
    assert result.returncode == 0, result.stderr
    assert sorted(listed_commands(result.stdout)) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_its_own_help(command: str) -> None:
    phrase, items = COMMANDS[command]
    out = show_help(app, command)
    assert phrase in flat(out)
    missing = [item for item in items if not names(out, item)]
    assert not missing, f"`medfollow {command} --help` does not name {missing}"


@pytest.mark.parametrize(
    ("path", "command"), [pytest.param(p, c, id=" ".join(p)) for p, c in walk(app)]
)
def test_every_command_explains_itself_and_its_parameters(
    path: tuple[str, ...], command: Any
) -> None:
    """Commands added later are held to the same rule: a docstring, and help naming each of
    the command's own arguments and options."""
    summary = (command.help or "").strip().splitlines()
    assert summary and summary[0], f"`medfollow {' '.join(path)}` has no docstring"
    out = show_help(app, *path)
    assert flat(summary[0]) in flat(out)
    missing = [item for item in own_parameters(command) if not names(out, item)]
    assert not missing, f"`medfollow {' '.join(path)} --help` does not name {missing}"


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
