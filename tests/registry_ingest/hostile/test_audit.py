"""The audit under hostile conditions: the database going away mid-load, a loader killed and
never restarted, a delivery id that cannot name a folder. Every attempt ends with one line,
and no attempt stays ``running`` once the source is touched again."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from medfollow_core.landing.folders import pending_deliveries
from registry_ingest.pipeline import ingest_delivery
from support.deliveries import write_delivery
from support.hostile import (
    Population,
    assert_no_cpr_anywhere,
    audit_rows,
    one_line_error,
    population,
    run_cli,
    state_dir,
    tables_snapshot,
)

__all__ = ["population", "state_dir"]  # module-scoped fixtures used below

pytestmark = pytest.mark.integration


def lab_rows(people: Population, first: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "cpr": people.cpr(i),
            "proevetid": f"{datetime(2024, 1, 1, 8) + timedelta(hours=i):%d-%m-%Y %H:%M}",
            "npu_kode": "NPU01566",
            "vaerdi": "35,5",
        }
        for i in range(first, first + n)
    ]


@pytest.fixture(scope="module")
def earlier(
    db_url: str, key: bytes, population: Population, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A warehouse holding one loaded lab delivery: the data nothing may change."""
    folder = write_delivery(
        tmp_path_factory.mktemp("landing"),
        "lab",
        {"resultater": lab_rows(population, 0, 5)},
        delivery_id="lab-earlier",
    )
    assert ingest_delivery(folder, url=db_url, key=key).status == "loaded"
    return db_url


def test_a_lost_database_connection_is_a_failed_attempt_with_one_line(
    earlier: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    folder = write_delivery(
        tmp_path, "lab", {"resultater": lab_rows(population, 10, 5)}, delivery_id="lab-lost"
    )
    before = tables_snapshot(earlier)

    def database_goes_away(label: str, done: int, total: int) -> None:
        with psycopg.connect(earlier, autocommit=True) as admin:
            admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )

    outcome = ingest_delivery(folder, url=earlier, key=key, progress=database_goes_away)
    assert outcome.status == "failed"
    assert outcome.reason and outcome.reason.startswith("lost the database connection (")
    assert outcome.reason.endswith("nothing was loaded, safe to retry")
    assert "\n" not in outcome.summary()
    assert tables_snapshot(earlier) == before
    assert audit_rows(earlier, "lab")[-1] == ("lab-lost", "failed", outcome.reason)
    assert folder in pending_deliveries(tmp_path, "lab", earlier)  # retried, not forgotten
    assert ingest_delivery(folder, url=earlier, key=key).status == "loaded"


def test_an_attempt_left_running_is_closed_by_the_next_load_of_the_source(
    earlier: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    """A loader killed mid-load leaves its row 'running'; the next load of any delivery of
    that source (here: one that is only skipped) closes it."""
    with psycopg.connect(earlier) as conn:
        conn.execute(
            "insert into audit.deliveries (source, delivery_id, status) "
            "values ('lab', 'lab-killed', 'running')"
        )
    folder = write_delivery(
        tmp_path, "lab", {"resultater": lab_rows(population, 0, 5)}, delivery_id="lab-earlier"
    )
    assert ingest_delivery(folder, url=earlier, key=key).status == "skipped"
    statuses = {(d, s, r) for d, s, r in audit_rows(earlier, "lab") if d == "lab-killed"}
    assert statuses == {("lab-killed", "failed", "interrupted before completion")}


def test_a_refused_id_keeps_its_name_in_the_audit(
    earlier: str, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    folder = write_delivery(
        tmp_path, "lab", {"resultater": lab_rows(population, 20, 2)}, delivery_id="lab-odd"
    )
    stray = population.cpr(950)
    odd = f"lab 2026/09 ../{stray[:6]}-{stray[6:]}"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["delivery_id"] = odd
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = tables_snapshot(earlier)
    code, output = run_cli(population, earlier, state_dir, "ingest", "lab", str(folder))
    assert code == 1
    assert "delivery id may only hold letters, digits" in one_line_error(output)
    assert tables_snapshot(earlier) == before
    shown = "lab 2026/09 ../<cpr>"
    assert audit_rows(earlier, "lab")[-1][:2] == (shown, "refused")


def test_no_cpr_of_the_population_anywhere(
    db_url: str, population: Population, state_dir: Path
) -> None:
    assert_no_cpr_anywhere(population, db_url, state_dir)
