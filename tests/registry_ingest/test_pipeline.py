"""Ingest against a real PostgreSQL: good deliveries load, bad ones are refused or
quarantined, and a refused delivery leaves the warehouse exactly as it was."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import psycopg
import pytest

from medfollow_core.landing.folders import pending_deliveries
from medfollow_core.landing.manifest import sha256_of
from registry_ingest.pipeline import ingest_delivery
from support.deliveries import make_cpr, write_delivery
from support.hostile import tables_snapshot
from support.privacy import columns_holding_cprs

pytestmark = pytest.mark.integration


def person(i: int, **over: object) -> dict[str, object]:
    birth = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
    row: dict[str, object] = {
        "cpr": make_cpr(birth, i),
        "fornavn": "Søren",
        "efternavn": "Åberg",
        "koen": "1",
        "foedselsdato": f"{birth:%d-%m-%Y}",
        "region": "1084",
        "kommune": "101",
        "postnr": "2100",
        "status": "01",
        "status_dato": "",
    }
    row.update(over)
    return row


def latest_audit(url: str) -> tuple[str, str | None, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select status, reason, rows_loaded, rows_quarantined from audit.deliveries "
            "order by attempt_id desc limit 1"
        ).fetchone()
    assert row is not None
    return row


@pytest.fixture(scope="module")
def loaded(db_url: str, key: bytes, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A warehouse with one good CPR delivery loaded."""
    root = tmp_path_factory.mktemp("landing")
    folder = write_delivery(
        root, "cpr", {"persons": [person(i) for i in range(20)]}, encoding="latin-1"
    )
    outcome = ingest_delivery(folder, url=db_url, key=key)
    assert outcome.status == "loaded", outcome.reason
    assert outcome.rows_loaded == 20
    return db_url


def test_good_delivery_loads_pseudonymised_and_is_audited(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        keys = conn.execute("select person_key, efternavn from raw.cpr__persons").fetchall()
    assert len(keys) == 20
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for k, _ in keys)
    assert {name for _, name in keys} == {"Åberg"}  # Latin-1 detected and decoded
    assert latest_audit(loaded)[0] == "loaded"


def test_same_delivery_again_is_a_recorded_no_op(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(20)]}, encoding="latin-1"
    )
    before = tables_snapshot(loaded)
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "skipped"
    assert tables_snapshot(loaded) == before
    assert latest_audit(loaded)[0] == "skipped"


def test_an_older_snapshot_never_rolls_the_register_back(
    loaded: str, tmp_path: Path, key: bytes
) -> None:
    """A backlog of snapshots loaded out of order (or an old one re-sent) is skipped, with
    the reason, and is no longer pending; the register keeps the newer snapshot."""
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(5)]}, cutoff=date(2026, 8, 31)
    )
    before = tables_snapshot(loaded)
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "skipped" and outcome.ok
    assert tables_snapshot(loaded) == before
    status, reason, *_ = latest_audit(loaded)
    assert status == "skipped"
    assert reason == "superseded by the loaded snapshot of 2026-09-30 (this one is of 2026-08-31)"
    assert pending_deliveries(tmp_path, "cpr", loaded) == []


def _refused(url: str, folder: Path, key: bytes) -> str:
    before = tables_snapshot(url)
    outcome = ingest_delivery(folder, url=url, key=key)
    assert outcome.status == "refused"
    assert tables_snapshot(url) == before, "a refused delivery changed the warehouse"
    status, reason, *_ = latest_audit(url)
    assert status == "refused"
    assert reason == outcome.reason
    assert "\n" not in (reason or "")
    return reason or ""


def test_checksum_mismatch_is_refused(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(30)]}, delivery_id="cpr-checksum"
    )
    with (folder / "cpr_persons.csv").open("ab") as fh:
        fh.write(b"tampered;;;;;;;;;;\n")
    assert "checksum does not match" in _refused(loaded, folder, key)


def test_a_checksum_mismatch_is_the_reason_whatever_else_fails(
    loaded: str, tmp_path: Path, key: bytes
) -> None:
    """Checksums are compared while the load checks columns and reads rows; a mismatch is
    still what the refusal says, even when the altered file also misses a column or
    breaks the CSV."""
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(30)]}, delivery_id="cpr-both"
    )
    path = folder / "cpr_persons.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(";".join(line.split(";")[:-1]) for line in lines) + "\n")
    assert "checksum does not match" in _refused(loaded, folder, key)
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(30)]}, delivery_id="cpr-ragged"
    )
    with (folder / "cpr_persons.csv").open("a") as fh:
        fh.write("1;2;3\n")
    assert "checksum does not match" in _refused(loaded, folder, key)


def test_nothing_commits_before_the_checksums_match(
    loaded: str, tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing runs beside the load, which COPYs into tables only its own transaction sees;
    the load commits only once every file is hashed, and a file found altered after its
    rows were COPYed leaves the warehouse as it was."""
    import time

    from registry_ingest import pipeline

    hashed: list[str] = []

    def slow_sha256_of(path: Path) -> str:
        time.sleep(0.5)
        hashed.append(path.name)
        return sha256_of(path)

    finished: list[tuple[str, list[str]]] = []

    def watched_finish_attempt(*args: object, **kwargs: object) -> None:
        finished.append((str(kwargs["status"]), list(hashed)))
        real_finish_attempt(*args, **kwargs)  # type: ignore[arg-type]

    real_finish_attempt = pipeline.audit.finish_attempt
    monkeypatch.setattr(pipeline, "sha256_of", slow_sha256_of)
    monkeypatch.setattr(pipeline.audit, "finish_attempt", watched_finish_attempt)
    rows = [diagnosis(i) for i in range(50)]
    folder = write_delivery(tmp_path, "lpr3", {"diagnoser": rows}, delivery_id="lpr3-slow-sha")
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "loaded", outcome.reason
    assert finished == [("loaded", ["kontakter.csv", "diagnoser.csv", "procedurer.csv"])]

    hashed.clear()
    altered = write_delivery(tmp_path, "lpr3", {"diagnoser": rows}, delivery_id="lpr3-altered")
    with (altered / "procedurer.csv").open("a") as fh:  # the last file hashed
        fh.write("K1;KAAA00;A\n")
    before = _warehouse_state(loaded)
    assert "procedurer.csv: checksum does not match" in _refused(loaded, altered, key)
    assert _warehouse_state(loaded) == before


def _warehouse_state(url: str) -> list[tuple[object, ...]]:
    """Every raw and quarantine table with its row count."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select format('%I.%I', schemaname, tablename) from pg_tables "
            "where schemaname in ('raw', 'quarantine') order by 1"
        ).fetchall()
        return [(t, conn.execute(f"select count(*) from {t}").fetchone()) for (t,) in tables]


def test_truncated_file_is_refused(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(
        tmp_path, "cpr", {"persons": [person(i) for i in range(30)]}, delivery_id="cpr-truncated"
    )
    data = (folder / "cpr_persons.csv").read_bytes()
    (folder / "cpr_persons.csv").write_bytes(data[: len(data) // 2])
    _rewrite_manifest_checksums(
        folder
    )  # even with a matching checksum, the row count gives it away
    reason = _refused(loaded, folder, key)
    assert "truncated" in reason or "malformed" in reason


def test_missing_column_is_refused(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(
        tmp_path,
        "cpr",
        {"persons": [person(i) for i in range(5)]},
        delivery_id="cpr-missing-column",
    )
    path = folder / "cpr_persons.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(";".join(line.split(";")[:-1]) for line in lines) + "\n")
    _rewrite_manifest_checksums(folder)
    assert "missing columns status_dato" in _refused(loaded, folder, key)


def test_wrong_encoding_is_refused(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(
        tmp_path,
        "cpr",
        {"persons": [person(i) for i in range(5)]},
        delivery_id="cpr-utf16",
        encoding="utf-16",
    )
    assert "not a text file" in _refused(loaded, folder, key)


def test_no_manifest_is_refused(loaded: str, tmp_path: Path, key: bytes) -> None:
    folder = write_delivery(tmp_path, "cpr", {"persons": [person(1)]}, delivery_id="cpr-nomanifest")
    (folder / "manifest.json").unlink()
    assert "no manifest.json" in _refused(loaded, folder, key)


def test_bad_rows_are_quarantined_and_good_rows_load(
    loaded: str, tmp_path: Path, key: bytes
) -> None:
    # A snapshot: enough good rows that the register does not shrink by more than 20 %.
    good = [person(100 + i) for i in range(20)]
    bad_cpr = dict(person(200), cpr="3102" + make_cpr(date(1990, 1, 1), 5)[4:])
    invalid_date = person(201, foedselsdato="31-04-1990")
    future = person(202, status="90", status_dato="01-01-2027")
    duplicate = [person(203), person(203, fornavn="Twin")]
    mod11_only = person(204, cpr=make_cpr(date(2010, 3, 3), 9, mod11=False))
    rows = [*good, bad_cpr, invalid_date, future, *duplicate, mod11_only]
    folder = write_delivery(tmp_path, "cpr", {"persons": rows}, delivery_id="cpr-dirty")
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "loaded"
    assert outcome.rows_loaded == 21  # the twenty good rows and the modulus-11 one
    assert outcome.mod11_warnings >= 1
    with psycopg.connect(loaded) as conn:
        reasons = sorted(
            r
            for (r,) in conn.execute(
                "select reason from quarantine.cpr__persons where _delivery_id = 'cpr-dirty'"
            )
        )
        assert conn.execute("select count(*) from raw.cpr__persons").fetchone() == (21,)  # snapshot
    assert reasons == sorted(
        [
            "cpr: impossible birth date",
            "foedselsdato: invalid date",
            "status_dato: after the delivery cut-off",
            "duplicate key (cpr)",
            "duplicate key (cpr)",
        ]
    )


def diagnosis(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "dw_ek_kontakt": f"K{i // 2}",
        "diagnosekode": "DC833",
        "diagnosetype": "AB"[i % 2],
        "senere_afkraeftet": "Nej",
    }
    row.update(over)
    return row


def _load_diagnoses(
    url: str, root: Path, key: bytes, delivery_id: str, rows: list[dict[str, object]]
) -> tuple[list[tuple[int, str]], list[int], int]:
    """Quarantined (row number, reason), loaded rows' numbers in the file (diagnoses are
    not numbered in raw: ``diagnosis`` gives each row its own contact and type) and
    batches of one delivery."""
    folder = write_delivery(root, "lpr3", {"diagnoser": rows}, delivery_id=delivery_id)
    batches: list[int] = []

    def progress(label: str, done: int, total: int) -> None:
        if label == "lpr3/diagnoser":
            batches.append(done)

    outcome = ingest_delivery(folder, url=url, key=key, progress=progress)
    assert outcome.status == "loaded", outcome.reason
    with psycopg.connect(url) as conn:
        quarantined = conn.execute(
            "select _row_number, reason from quarantine.lpr3__diagnoser "
            "where _delivery_id = %s order by 1",
            (delivery_id,),
        ).fetchall()
        loaded = conn.execute(
            "select 2 * substr(dw_ek_kontakt, 2)::int + ascii(diagnosetype) - ascii('A') + 1 "
            "from raw.lpr3__diagnoser where _delivery_id = %s order by 1",
            (delivery_id,),
        ).fetchall()
    return quarantined, [r for (r,) in loaded], len(batches)


def test_batch_boundaries_change_nothing(
    loaded: str, tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read in many small batches, regrouped from smaller parsed blocks, quarantines
    the same rows with the same reasons and row numbers as when it is one batch (bad rows
    sit on either side of batch boundaries)."""
    from registry_ingest import read

    stray = make_cpr(date(1990, 1, 1), 5)
    bad = {
        1: {"dw_ek_kontakt": ""},
        2: {"diagnosetype": "X"},
        15: {"senere_afkraeftet": "maaske"},
        16: {"diagnosekode": stray},
        17: {"diagnosekode": ""},
        32: {"diagnosetype": "C"},
        33: {"dw_ek_kontakt": ""},
        300: {"diagnosetype": "Z"},
    }
    rows = [diagnosis(i, **bad.get(i + 1, {})) for i in range(300)]
    expected = [
        (1, "dw_ek_kontakt: missing"),
        (2, "diagnosetype: code not allowed"),
        (15, "senere_afkraeftet: not a yes/no value"),
        (16, "diagnosekode: holds a CPR number"),
        (17, "diagnosekode: missing"),
        (32, "diagnosetype: code not allowed"),
        (33, "dw_ek_kontakt: missing"),
        (300, "diagnosetype: code not allowed"),
    ]
    good = [n for n in range(1, 301) if n not in bad]
    whole = _load_diagnoses(loaded, tmp_path / "whole", key, "lpr3-whole", rows)
    monkeypatch.setattr(read, "BATCH_ROWS", 16)
    monkeypatch.setattr(read, "_RAMP", 1)  # every batch 16 rows: boundaries after 16, 32, ...
    monkeypatch.setattr(read, "_CSV_BLOCK_BYTES", 256)  # a dozen rows per parsed block
    cut = _load_diagnoses(loaded, tmp_path / "cut", key, "lpr3-cut", rows)
    assert (whole[2], cut[2]) == (1, 19)
    assert whole[:2] == cut[:2] == (expected, good)


def test_modulus_11_warnings_are_counted_in_a_batch_without_bad_rows(
    loaded: str, tmp_path: Path, key: bytes
) -> None:
    rows = [
        {
            "cpr": make_cpr(date(2010, 3, 3), 9, mod11=mod11),
            "proevetid": "01-01-2024 08:00",
            "npu_kode": "NPU01566",
            "vaerdi": "1",
        }
        for mod11 in (True, False)
    ]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-mod11")
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "loaded", outcome.reason
    assert outcome.mod11_warnings == 1


def test_no_value_in_the_warehouse_is_a_cpr_number(loaded: str) -> None:
    _, leaks = columns_holding_cprs(loaded)
    assert not leaks


def _rewrite_manifest_checksums(folder: Path) -> None:
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["sha256"] = sha256_of(folder / entry["name"])
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_sas_dataset_delivery_loads_like_csv(loaded: str, tmp_path: Path, key: bytes) -> None:
    import pandas as pd
    import pyreadstat

    from medfollow_core.landing.manifest import write_manifest

    folder = tmp_path / "optout" / "optout-sas"
    folder.mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "cpr": [make_cpr(date(1980, 3, 3), i) for i in range(3)],
            "register": ["vaev", "genetik", "genetik"],
            "gyldig_fra": ["01-02-2024", "2024-03-05", "31-02-2024"],
            "gyldig_til": ["", "", ""],
        }
    )
    pyreadstat.write_xport(
        frame, str(folder / "optout.xpt"), table_name="OPTOUT", file_format_version=8
    )
    write_manifest(
        folder,
        source="optout",
        delivery_id="optout-sas",
        cutoff_date=date(2026, 9, 30),
        files=[("optout.xpt", "registreringer", 3)],
    )
    outcome = ingest_delivery(folder, url=loaded, key=key)
    assert outcome.status == "loaded", outcome.reason
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (2, 1)
