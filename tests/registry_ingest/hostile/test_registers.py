"""Hostile deliveries that would lose or freeze a register: an empty or all-quarantined
snapshot, a cut-off typo, two snapshots at once, a re-used delivery id, a re-sent LPR3
increment. Each is refused or neutralised with one line, and earlier data stays as it was."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from medfollow_core.landing.manifest import sha256_of
from registry_ingest.pipeline import DeliveryOutcome, ingest_delivery
from support.deliveries import write_delivery
from support.hostile import (
    Population,
    assert_no_cpr_anywhere,
    audit_rows,
    one_line_error,
    population,
    register_row,
    run_cli,
    state_dir,
    tables_snapshot,
)

__all__ = ["population", "state_dir"]  # module-scoped fixtures used below

pytestmark = pytest.mark.integration

AUGUST, SEPTEMBER = date(2026, 8, 31), date(2026, 9, 30)


def optouts(people: Population, n: int) -> list[dict[str, object]]:
    return [
        {"cpr": people.cpr(500 + i), "register": "vaev", "gyldig_fra": "01-02-2024"}
        for i in range(n)
    ]


def rewrite_checksums(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["sha256"] = sha256_of(folder / entry["name"])
    (folder / "manifest.json").write_text(json.dumps(manifest))


def refused(url: str, folder: Path, key: bytes, source: str) -> DeliveryOutcome:
    """Ingest ``folder``, expecting a refusal that changes nothing but the audit."""
    before = tables_snapshot(url)
    outcome = ingest_delivery(folder, url=url, key=key)
    assert outcome.status == "refused", outcome
    assert tables_snapshot(url) == before, "a refused delivery changed the warehouse"
    assert audit_rows(url, source)[-1] == (outcome.delivery_id, "refused", outcome.reason)
    assert outcome.reason and "\n" not in outcome.reason
    return outcome


@pytest.fixture(scope="module")
def register(
    db_url: str, key: bytes, population: Population, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A warehouse with the CPR register of August loaded (20 persons)."""
    root = tmp_path_factory.mktemp("landing")
    rows = [register_row(population, i) for i in range(20)]
    folder = write_delivery(root, "cpr", {"persons": rows}, cutoff=AUGUST)
    assert ingest_delivery(folder, url=db_url, key=key).status == "loaded"
    return db_url


def test_a_header_only_snapshot_cannot_empty_the_register(
    register: str, key: bytes, tmp_path: Path
) -> None:
    folder = write_delivery(tmp_path, "cpr", {"persons": []}, delivery_id="cpr-empty")
    outcome = refused(register, folder, key, "cpr")
    assert outcome.reason == (
        "the snapshot would shrink cpr__persons 20 → 0 rows (more than 20% fewer); "
        "if that is right, load it again with a --force-reason"
    )


def test_a_snapshot_whose_rows_are_all_quarantined_cannot_empty_the_register(
    register: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    """Swapped ``cpr`` and ``foedselsdato`` headers: every row fails, none would load."""
    rows = [register_row(population, i) for i in range(20)]
    folder = write_delivery(tmp_path, "cpr", {"persons": rows}, delivery_id="cpr-swapped")
    path = folder / "cpr_persons.csv"
    header, *lines = path.read_text().splitlines()
    swap = {"cpr": "foedselsdato", "foedselsdato": "cpr"}
    swapped = ";".join(swap.get(name, name) for name in header.split(";"))
    path.write_text("\n".join([swapped, *lines]) + "\n")
    rewrite_checksums(folder)
    assert "cpr__persons 20 → 0 rows" in (refused(register, folder, key, "cpr").reason or "")


def test_a_cutoff_in_the_future_is_refused_and_freezes_nothing(
    register: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    rows = [register_row(population, i) for i in range(20)]
    typo = write_delivery(
        tmp_path, "cpr", {"persons": rows}, delivery_id="cpr-typo", cutoff=date(2206, 9, 30)
    )
    outcome = refused(register, typo, key, "cpr")
    assert outcome.reason == "cut-off date 2206-09-30 is in the future (a typo in the year?)"
    real = write_delivery(tmp_path, "cpr", {"persons": rows}, cutoff=SEPTEMBER)
    assert ingest_delivery(real, url=register, key=key).status == "loaded"  # not "superseded"


def test_two_snapshots_at_once_leave_the_newer_in_force(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    """The newer snapshot is mid-load when the older one arrives: the older waits for the
    source's lock, then finds itself superseded; the newer one is the register."""
    newer = write_delivery(tmp_path, "optout", {"registreringer": optouts(population, 12)})
    older = write_delivery(
        tmp_path, "optout", {"registreringer": optouts(population, 10)}, cutoff=AUGUST
    )
    paused = threading.Event()

    def pause(label: str, done: int, total: int) -> None:
        if not paused.is_set():
            paused.set()
            _wait_for_a_blocked_session(db_url, seconds=5)

    results: dict[str, DeliveryOutcome] = {}
    loader = threading.Thread(
        target=lambda: results.setdefault(
            "newer", ingest_delivery(newer, url=db_url, key=key, progress=pause)
        )
    )
    loader.start()
    assert paused.wait(30)
    results["older"] = ingest_delivery(older, url=db_url, key=key)
    loader.join(60)
    assert results["newer"].status == "loaded"
    assert results["older"].status == "skipped"
    assert results["older"].reason == (
        "superseded by the loaded snapshot of 2026-09-30 (this one is of 2026-08-31)"
    )
    with psycopg.connect(db_url) as conn:
        in_force = conn.execute(
            "select _delivery_id, count(*) from raw.optout__registreringer group by 1"
        ).fetchall()
    assert in_force == [("optout-202609", 12)]


def _wait_for_a_blocked_session(url: str, seconds: float) -> None:
    """Until some session waits for a lock (the other load), or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select exists (select 1 from pg_locks where not granted)")
            if (row.fetchone() or (False,))[0]:
                return
            time.sleep(0.05)


def test_shrinking_a_register_needs_a_recorded_reason(
    db_url: str, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    """The opt-out register really did lose most entries: the CLI refuses it, then loads it
    with --force-reason, and the audit keeps the reason."""
    folder = write_delivery(
        tmp_path,
        "optout",
        {"registreringer": optouts(population, 3)},
        delivery_id="optout-202609-b",
    )
    before = tables_snapshot(db_url)
    code, output = run_cli(population, db_url, state_dir, "ingest", "optout", str(folder))
    assert code == 1
    assert "optout__registreringer 12 → 3 rows" in one_line_error(output)
    assert tables_snapshot(db_url) == before
    code, output = run_cli(
        population,
        db_url,
        state_dir,
        "ingest",
        "optout",
        str(folder),
        "--force-reason",
        "register cleaned by the supplier (ticket 4711)",
    )
    assert code == 0, output
    assert audit_rows(db_url, "optout")[-1] == (
        "optout-202609-b",
        "loaded",
        "forced: register cleaned by the supplier (ticket 4711) "
        "(optout__registreringer 12 → 3 rows)",
    )


def test_a_loaded_delivery_id_with_other_content_is_refused(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    row = {
        "cpr": population.cpr(700),
        "proevetid": "01-03-2024 08:00",
        "npu_kode": "NPU01566",
        "vaerdi": "35,5",
    }
    first = write_delivery(tmp_path / "a", "lab", {"resultater": [row]}, delivery_id="lab-1")
    assert ingest_delivery(first, url=db_url, key=key).status == "loaded"
    again = write_delivery(tmp_path / "b", "lab", {"resultater": [row]}, delivery_id="lab-1")
    assert ingest_delivery(again, url=db_url, key=key).status == "skipped"
    corrected = write_delivery(
        tmp_path / "c", "lab", {"resultater": [dict(row, vaerdi="36,0")]}, delivery_id="lab-1"
    )
    outcome = refused(db_url, corrected, key, "lab")
    assert outcome.reason == (
        "delivery id reused with different content (the checksums differ from the loaded "
        "delivery's); send a correction under a new delivery id"
    )


def lpr3_delivery(
    root: Path, people: Population, delivery_id: str, contacts: range, **over: object
) -> Path:
    kontakter = [
        {
            "dw_ek_kontakt": f"K{i}",
            "cpr": people.cpr(i % 20),  # persons in the CPR register
            "dato_start": "03-03-2024",
            "prioritet": "ATA1",
            **over,
        }
        for i in contacts
    ]
    diagnoser = [
        {"dw_ek_kontakt": f"K{i}", "diagnosekode": code, "diagnosetype": kind}
        for i in contacts
        for code, kind in (("DC833", "A"), ("DD671", "B"))
    ]
    procedurer = [
        {"dw_ek_kontakt": f"K{i}", "procedurekode": "BOHJ19", "dato_start": "03-03-2024"}
        for i in contacts
    ]
    return write_delivery(
        root,
        "lpr3",
        {"kontakter": kontakter, "diagnoser": diagnoser, "procedurer": procedurer},
        delivery_id=delivery_id,
    )


def lpr3_counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select (select count(*) from raw.lpr3__kontakter),
                      (select count(*) from raw.lpr3__diagnoser),
                      (select count(*) from raw.lpr3__procedurer)"""
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_resent_lpr3_increment_does_not_double_diagnoses_or_procedures(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    first = lpr3_delivery(tmp_path, population, "lpr3-1", range(3))
    assert ingest_delivery(first, url=db_url, key=key).status == "loaded"
    assert lpr3_counts(db_url) == (3, 6, 3)
    resent = lpr3_delivery(tmp_path, population, "lpr3-1-resent", range(3))
    outcome = ingest_delivery(resent, url=db_url, key=key)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 0, 12)
    assert lpr3_counts(db_url) == (3, 6, 3)
    with psycopg.connect(db_url) as conn:
        reasons = conn.execute(
            """select reason, count(*) from quarantine.lpr3__diagnoser
                where _delivery_id = 'lpr3-1-resent' group by 1"""
        ).fetchall()
    assert reasons == [("dw_ek_kontakt: its kontakter row is quarantined", 6)]


def test_a_quarantined_contact_takes_its_children_along(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    before = lpr3_counts(db_url)
    bad = lpr3_delivery(tmp_path, population, "lpr3-2", range(10, 12), dato_start="31-02-2024")
    outcome = ingest_delivery(bad, url=db_url, key=key)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (0, 8)
    assert lpr3_counts(db_url) == before


def test_no_cpr_of_the_population_anywhere(
    db_url: str, population: Population, state_dir: Path
) -> None:
    assert_no_cpr_anywhere(population, db_url, state_dir)
