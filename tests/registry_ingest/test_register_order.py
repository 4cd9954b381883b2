"""Sources checked against the CPR register are checked against the register of their own
cut-off: a September lab delivery waits while only August's register is loaded, and rows
quarantined because their person was not yet registered come back when a register knows
them (with an LPR3 contact's diagnoses and procedures)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import psycopg
import pytest

from medfollow_core.landing.folders import ready_deliveries
from registry_ingest.pipeline import ingest_delivery
from registry_ingest.recheck import recheck_unknown_persons
from support.deliveries import write_delivery
from support.hostile import Population, population, register_row, state_dir

__all__ = ["population", "state_dir"]  # module-scoped fixtures used below

pytestmark = pytest.mark.integration

AUGUST, SEPTEMBER = date(2026, 8, 31), date(2026, 9, 30)


def register(root: Path, people: Population, persons: Sequence[int], cutoff: date) -> Path:
    rows = [register_row(people, i) for i in persons]
    return write_delivery(root, "cpr", {"persons": rows}, cutoff=cutoff)


def lpr3(root: Path, people: Population, persons: Sequence[int], cutoff: date) -> Path:
    contacts = [f"K{i}" for i in persons]
    day = f"03-{cutoff:%m-%Y}"
    return write_delivery(
        root,
        "lpr3",
        {
            "kontakter": [
                {"dw_ek_kontakt": k, "cpr": people.cpr(i), "dato_start": day}
                for k, i in zip(contacts, persons, strict=True)
            ],
            "diagnoser": [
                {"dw_ek_kontakt": k, "diagnosekode": "DC833", "diagnosetype": "A"} for k in contacts
            ],
            "procedurer": [
                {"dw_ek_kontakt": k, "procedurekode": "BOHJ19", "dato_start": day} for k in contacts
            ],
        },
        cutoff=cutoff,
    )


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: int(conn.execute(f"select count(*) from {table}").fetchone()[0])  # type: ignore[index]
            for table in (
                "raw.lpr3__kontakter",
                "raw.lpr3__diagnoser",
                "raw.lpr3__procedurer",
                "quarantine.lpr3__kontakter",
                "quarantine.lpr3__diagnoser",
                "quarantine.lpr3__procedurer",
            )
        }


def test_a_delivery_waits_for_the_register_of_its_cutoff(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    august = register(tmp_path, population, range(10), AUGUST)
    september_lpr3 = lpr3(tmp_path, population, range(12), SEPTEMBER)

    waiting = ready_deliveries(tmp_path, "lpr3", db_url, after="cpr")
    assert waiting.ready == []
    assert waiting.waiting == {
        september_lpr3: "waits for cpr of cut-off 2026-09-30 (none loaded yet)"
    }

    assert ingest_delivery(august, url=db_url, key=key).status == "loaded"
    still = ready_deliveries(tmp_path, "lpr3", db_url, after="cpr")
    assert still.waiting[september_lpr3].endswith("(latest loaded: 2026-08-31)")

    assert (
        ingest_delivery(
            register(tmp_path, population, range(12), SEPTEMBER), url=db_url, key=key
        ).status
        == "loaded"
    )
    assert ready_deliveries(tmp_path, "lpr3", db_url, after="cpr").ready == [september_lpr3]
    # with no register to wait for, everything pending is ready
    assert ready_deliveries(tmp_path, "cpr", db_url, after=None).ready == []


def test_quarantined_unknown_persons_return_when_a_register_knows_them(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    # a fresh module database: the register of the test above holds persons 0-11
    outcome = ingest_delivery(
        lpr3(tmp_path, population, range(100, 106), AUGUST), url=db_url, key=key
    )
    assert outcome.status == "loaded" and outcome.rows_quarantined == 18  # 6 contacts, 12 children
    before = counts(db_url)
    assert recheck_unknown_persons(db_url) == []  # nobody new: nothing moves
    assert counts(db_url) == before

    newer = register(
        tmp_path / "newer", population, [*range(12), 100, 101, 102], date(2026, 10, 31)
    )
    assert ingest_delivery(newer, url=db_url, key=key).status == "loaded"
    moved = recheck_unknown_persons(db_url)
    assert {(m.table, m.rows) for m in moved} == {
        ("kontakter", 3),
        ("diagnoser", 3),
        ("procedurer", 3),
    }
    after = counts(db_url)
    assert after["raw.lpr3__kontakter"] == before["raw.lpr3__kontakter"] + 3
    assert after["quarantine.lpr3__kontakter"] == 3  # persons 103-105: still unknown
    assert after["quarantine.lpr3__diagnoser"] == after["quarantine.lpr3__procedurer"] == 3
    with psycopg.connect(db_url) as conn:
        reinstated = conn.execute(
            "select k._delivery_id, count(*) from raw.lpr3__kontakter k "
            "join raw.lpr3__diagnoser d using (dw_ek_kontakt) group by 1"
        ).fetchall()
        logged = conn.execute(
            "select source, table_name, register_delivery_id, rows_reinstated "
            "from audit.rechecks order by table_name"
        ).fetchall()
    assert reinstated == [("lpr3-202608", 3)]  # under the delivery they came in
    assert logged == [
        ("lpr3", "diagnoser", "cpr-202610", 3),
        ("lpr3", "kontakter", "cpr-202610", 3),
        ("lpr3", "procedurer", "cpr-202610", 3),
    ]
