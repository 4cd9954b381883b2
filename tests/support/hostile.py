"""What the hostile-input tests share: a synthetic population whose CPR numbers are known, a
private state directory per test module, the CLI run as a user runs it, and the scans that
prove no CPR number of that population was written anywhere.

Every CPR a hostile test puts into a delivery comes from `Population.cpr`, so the final scan
can look for exactly those numbers, in any spelling, in every table, every file under the
module's state directory (Great Expectations results and Data Docs included) and every piece
of captured output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from medfollow_core.cpr_shape import CPR_SHAPED
from support.deliveries import make_cpr
from support.privacy import columns_holding_cprs


class Population:
    """The persons of a hostile suite: CPR numbers built at run time and remembered."""

    def __init__(self) -> None:
        self.cprs: set[str] = set()
        self.output: list[str] = []  # everything the CLI printed, for the final scan

    def cpr(self, i: int) -> str:
        number = make_cpr(date(1940 + i % 60, 1 + i % 12, 1 + i % 28), i)
        self.cprs.add(number)
        return number

    def found_in(self, text: str) -> list[str]:
        """This population's CPR numbers in ``text``, whatever the spelling (masked form)."""
        hits = (re.sub(r"\D", "", m.group(0)) for m in CPR_SHAPED.finditer(text))
        return sorted({h[:6] + "-****" for h in hits if h in self.cprs})


def register_row(people: Population, i: int) -> dict[str, object]:
    """One person of ``people`` as a CPR register row (names and address fixed)."""
    return {
        "cpr": people.cpr(i),
        "fornavn": "Søren",
        "efternavn": "Åberg",
        "koen": "1",
        "foedselsdato": "01-01-1960",
        "region": "1084",
        "kommune": "101",
        "postnr": "2100",
        "status": "01",
    }


def spellings(cpr: str) -> list[str]:
    """The ways people write one CPR number: plain, hyphen, space, dots."""
    return [
        cpr,
        f"{cpr[:6]}-{cpr[6:]}",
        f"{cpr[:6]} {cpr[6:]}",
        f"{cpr[:2]}.{cpr[2:4]}.{cpr[4:6]}-{cpr[6:]}",
    ]


@pytest.fixture(scope="module")
def population() -> Population:
    return Population()


@pytest.fixture(scope="module", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state directory of the module's own (for every test of a module importing this
    fixture): everything ingest writes (GX) lands here, and the final scan reads it all."""
    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDFOLLOW_STATE_DIR", str(path))
        yield path


def run_cli(population: Population, url: str, state: Path, *args: str) -> tuple[int, str]:
    """``medfollow *args`` in a subprocess as a user runs it: (exit code, stdout + stderr)."""
    env = {
        **os.environ,
        "MEDFOLLOW_DATABASE_URL": url,
        "MEDFOLLOW_STATE_DIR": str(state),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from medfollow.cli.main import run; run()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    population.output.append(output)
    return done.returncode, output


def one_line_error(output: str) -> str:
    """The CLI's error line; fails on a traceback or anything but one line (besides the
    progress bar)."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip() and "━" not in line]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    return lines[0]


def tables_snapshot(url: str) -> dict[str, object]:
    """Every raw and quarantine table's row count and content hash."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select schemaname || '.' || tablename from pg_tables "
            "where schemaname in ('raw', 'quarantine') order by 1"
        ).fetchall()
        return {
            t: conn.execute(
                f"select count(*), md5(coalesce(string_agg(x::text, '' order by x::text), '')) "
                f"from {t} x"
            ).fetchone()
            for (t,) in tables
        }


def audit_rows(url: str, source: str) -> list[tuple[str, str, str | None]]:
    """(delivery id, status, reason) of a source's attempts, oldest first."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select delivery_id, status, reason from audit.deliveries where source = %s "
            "order by attempt_id",
            (source,),
        ).fetchall()


def files_holding(population: Population, root: Path) -> list[str]:
    """Files under ``root`` holding a CPR number of the population (any spelling)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if population.found_in(path.read_bytes().decode("latin-1")):
            found.append(str(path.relative_to(root)))
    return found


def assert_no_cpr_anywhere(population: Population, url: str, state: Path) -> None:
    """The issue's "done when": no CPR of the population in tables, state files or output."""
    assert population.cprs, "the suite used no CPR numbers"
    _, leaks = columns_holding_cprs(url)
    assert not leaks, leaks
    assert not files_holding(population, state)
    assert any((state / "gx").rglob("*.json")), "no Great Expectations output was scanned"
    assert not population.found_in("\n".join(population.output))
