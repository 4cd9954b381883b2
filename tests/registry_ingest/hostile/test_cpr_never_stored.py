"""Hostile deliveries that carry CPR numbers where no CPR column is declared: none of them
may leave a CPR number in a table, a quarantine record, Great Expectations output, the audit
or the CLI's output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from medfollow_core.landing.manifest import sha256_of
from medfollow_core.pseudonymise import Pseudonymiser
from registry_ingest.pipeline import ingest_delivery
from support.deliveries import write_delivery
from support.hostile import (
    Population,
    assert_no_cpr_anywhere,
    audit_rows,
    files_holding,
    one_line_error,
    population,
    run_cli,
    spellings,
    state_dir,
)

__all__ = ["population", "state_dir"]  # module-scoped fixtures used below

pytestmark = pytest.mark.integration


def lab_row(people: Population, i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "cpr": people.cpr(i),
        "proevetid": f"{datetime(2024, 1, 1, 8) + timedelta(hours=i):%d-%m-%Y %H:%M}",
        "npu_kode": "NPU01566",
        "analysenavn": "Koagulationsfaktor IX",
        "vaerdi": "35,5",
        "enhed": "%",
        "ref_nedre": "50",
        "ref_oevre": "150",
    }
    row.update(over)
    return row


def contact(people: Population, i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "dw_ek_kontakt": f"K{i:06d}",
        "dw_ek_forloeb": f"F{i:06d}",
        "cpr": people.cpr(i),
        "dato_start": "03-03-2024",
        "prioritet": "ATA1",
    }
    row.update(over)
    return row


def rewrite_checksums(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["sha256"] = sha256_of(folder / entry["name"])
    (folder / "manifest.json").write_text(json.dumps(manifest))


def quarantined(url: str, table: str, delivery_id: str) -> list[tuple[str, dict[str, object]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"select reason, record from quarantine.{table} where _delivery_id = %s "
            "order by _row_number",
            (delivery_id,),
        ).fetchall()


def test_a_cpr_inside_free_text_is_masked_in_every_spelling(
    db_url: str, key: bytes, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    people = population
    hidden = people.cpr(900)
    rows = [lab_row(people, i) for i in range(5)]
    rows += [
        lab_row(people, 10 + n, analysenavn=f"Faktor IX (se journal for {spelling}, ring)")
        for n, spelling in enumerate(spellings(hidden))
    ]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-freetext")
    code, output = run_cli(people, db_url, state_dir, "ingest", "lab", str(folder))
    assert code == 0, output
    assert "loaded 9 rows, quarantined 0" in output
    with psycopg.connect(db_url) as conn:
        names = [
            n
            for (n,) in conn.execute(
                "select analysenavn from raw.lab__resultater where _delivery_id = 'lab-freetext' "
                "and _row_number > 5 order by _row_number"
            )
        ]
    assert names == ["Faktor IX (se journal for <cpr>, ring)"] * 4
    assert audit_rows(db_url, "lab")[-1][1:] == ("loaded", None)


def test_a_value_that_is_a_cpr_is_quarantined_as_its_pseudonym(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    people = population
    stray = people.cpr(901)
    rows = [lab_row(people, 20), lab_row(people, 21, vaerdi=f"{stray[:6]} {stray[6:]}")]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-value")
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 1, 1)
    [(reason, record)] = quarantined(db_url, "lab__resultater", "lab-value")
    assert reason == "vaerdi: holds a CPR number"
    assert record["vaerdi"] == Pseudonymiser(key).one(stray)
    assert record["person_key"] == Pseudonymiser(key).one(rows[1]["cpr"])  # typed record


def test_a_cpr_in_a_number_column_is_quarantined(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    people = population
    stray = people.cpr(910)  # born on the 11th or later: no leading zero to lose
    assert not stray.startswith("0")
    rows = [lab_row(people, 30), lab_row(people, 31, ref_nedre=stray)]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-number")
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 1)
    [(reason, record)] = quarantined(db_url, "lab__resultater", "lab-number")
    assert reason == "ref_nedre: holds a CPR number"
    assert record["ref_nedre"] == Pseudonymiser(key).one(stray)


def test_swapped_cpr_and_date_headers_put_no_cpr_into_quarantine(
    db_url: str, key: bytes, tmp_path: Path, population: Population
) -> None:
    """The supplier swapped two headers: the CPR numbers arrive under ``proevetid``."""
    people = population
    rows = [lab_row(people, 100 + i) for i in range(50)]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-swapped")
    path = folder / "lab.csv"
    header, *lines = path.read_text().splitlines()
    columns = header.split(";")
    a, b = columns.index("cpr"), columns.index("proevetid")
    columns[a], columns[b] = columns[b], columns[a]
    path.write_text("\n".join([";".join(columns), *lines]) + "\n")
    rewrite_checksums(folder)
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 0, 50)
    records = quarantined(db_url, "lab__resultater", "lab-swapped")
    assert len(records) == 50
    assert {r["proevetid"] for _, r in records} == {None}  # typed: not a timestamp
    assert not population.found_in(json.dumps([r for _, r in records]))


def test_a_cpr_in_a_coded_column_reaches_neither_quarantine_nor_validation_output(
    db_url: str, key: bytes, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    people = population
    stray = people.cpr(920)
    rows = [contact(people, 1), contact(people, 2, prioritet=f"{stray[:6]}-{stray[6:]}")]
    folder = write_delivery(tmp_path, "lpr3", {"kontakter": rows}, delivery_id="lpr3-coded")
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 1)
    [(reason, record)] = quarantined(db_url, "lpr3__kontakter", "lpr3-coded")
    assert reason == "prioritet: holds a CPR number"
    assert record["prioritet"] == Pseudonymiser(key).one(stray)
    gx = state_dir / "gx" / "lpr3" / "lpr3-coded"
    assert any(gx.rglob("*.html")), "Data Docs were not built"
    assert not files_holding(population, gx)


def test_a_coded_value_that_fails_validation_is_not_echoed_by_great_expectations(
    db_url: str, key: bytes, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    """GX results and Data Docs list row numbers, never the unexpected values themselves."""
    people = population
    rows = [contact(people, 3), contact(people, 4, prioritet="hemmelig-vaerdi")]
    folder = write_delivery(tmp_path, "lpr3", {"kontakter": rows}, delivery_id="lpr3-code")
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert outcome.rows_quarantined == 1
    [(reason, _)] = quarantined(db_url, "lpr3__kontakter", "lpr3-code")
    assert reason == "prioritet: code not allowed"
    gx = state_dir / "gx" / "lpr3" / "lpr3-code"
    assert not [p for p in gx.rglob("*") if p.is_file() and b"hemmelig" in p.read_bytes()]


def test_a_parse_error_quoting_a_row_leaks_no_cpr_to_the_audit_or_stderr(
    db_url: str, tmp_path: Path, population: Population, state_dir: Path
) -> None:
    people = population
    rows = [lab_row(people, 200 + i) for i in range(3)]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-ragged")
    stray = people.cpr(930)
    with (folder / "lab.csv").open("a") as fh:  # a ragged row: one field too many
        fh.write(f"{stray[:6]} {stray[6:]};01-01-2024 08:00;NPU01566;Søren Åberg;1;%;1;2;extra\n")
    rewrite_checksums(folder)
    code, output = run_cli(people, db_url, state_dir, "ingest", "lab", str(folder))
    assert code == 1
    line = one_line_error(output)
    assert "refused" in line
    delivery, status, reason = audit_rows(db_url, "lab")[-1]
    assert (delivery, status) == ("lab-ragged", "refused")
    assert reason and "\n" not in reason
    assert not population.found_in(reason + output)


def test_no_cpr_of_the_population_anywhere(
    db_url: str, population: Population, state_dir: Path
) -> None:
    assert_no_cpr_anywhere(population, db_url, state_dir)
