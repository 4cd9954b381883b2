"""Hostile deliveries, files and values: each is built here, sent through `medfollow ingest`
as a user would, and must end loaded (bad rows quarantined with their reason) or refused
with one line — never a traceback, never a byte read from outside the delivery folder, and
never a change to what was loaded before.

Cases: manifest paths outside the folder (absolute, ``..``, symlinks to files and folders,
FIFOs, ``/dev/zero``, folders), encodings (cp1252, a stray Latin-1 byte in UTF-8, the
manifest's declared encoding), values (``1e999``, blank required codes, dates with trailing
digits, values outside what is physically possible, upper-case checksums) and malformed
manifests and files (wrong types, a folder, a BOM, invalid JSON, duplicated and nested
columns).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medfollow.cli.main import run
from medfollow_core.cpr_shape import CPR_SHAPED
from medfollow_core.landing.manifest import sha256_of, write_manifest
from support.deliveries import make_cpr, write_delivery

pytestmark = pytest.mark.integration

PERSONS = 12


def cpr(i: int) -> str:
    return make_cpr(date(1950 + i, 1 + i % 12, 1 + i % 28), i)


def person(i: int) -> dict[str, object]:
    birth = date(1950 + i, 1 + i % 12, 1 + i % 28)
    return {
        "cpr": cpr(i),
        "fornavn": "Søren",
        "efternavn": "Åberg",
        "koen": "1",
        "foedselsdato": f"{birth:%d-%m-%Y}",
        "region": "1084",
        "status": "01",
    }


def assessment(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "cpr": cpr(i % PERSONS),
        "vurderingsdato": "01-03-2024",
        "tidspunkt": "90",
        "produkt": "Hemgenix",
        "faktor_ix_aktivitet": "35,5",
        "abr": "0,5",
        "eq5d_index": "0,84",
    }
    row.update(over)
    return row


def lab_result(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "cpr": cpr(i % PERSONS),
        "proevetid": "01-02-2024 10:30",
        "npu_kode": "NPU01566",
        "analysenavn": "Koagulationsfaktor IX",
        "vaerdi": "35,5",
        "enhed": "%",
    }
    row.update(over)
    return row


@pytest.fixture(scope="module")
def warehouse(db_url: str, key: bytes, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CPR register, one outcome and one lab delivery, loaded as a user would."""
    from registry_ingest.pipeline import ingest_delivery

    root = tmp_path_factory.mktemp("baseline")
    deliveries = [
        write_delivery(root, "cpr", {"persons": [person(i) for i in range(PERSONS)]}),
        write_delivery(
            root, "outcomes", {"vurderinger": [assessment(i) for i in range(5)]}, delivery_id="o-0"
        ),
        write_delivery(root, "lab", {"resultater": [lab_result(i) for i in range(5)]}),
    ]
    for folder in deliveries:
        outcome = ingest_delivery(folder, url=db_url, key=key)
        assert outcome.status == "loaded", outcome.reason
    return db_url


@dataclass
class Attempt:
    """What a user saw and what the warehouse kept after one `medfollow ingest`."""

    exit_code: int
    output: str
    audit: tuple[Any, ...] | None  # (status, reason) of the delivery's last attempt
    earlier_unchanged: bool

    def error_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, self.output
        return lines[0]


def ingest(
    url: str,
    source: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    delivery_id: str | None = None,
) -> Attempt:
    """Run ``medfollow ingest SOURCE FOLDER`` in-process, as the console script does."""
    delivery_id = delivery_id or folder.name
    before = _earlier(url, delivery_id)
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", url)
    monkeypatch.setattr(sys, "argv", ["medfollow", "ingest", source, str(folder)])
    code, crash = 0, ""
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    except BaseException:  # what the console script would print as a traceback
        code, crash = 99, traceback.format_exc()
    captured = capsys.readouterr()
    output = captured.out + captured.err + crash
    with psycopg.connect(url) as conn:
        audit = conn.execute(
            "select status, reason from audit.deliveries where source = %s and delivery_id = %s "
            "order by attempt_id desc limit 1",
            (source, delivery_id),
        ).fetchone()
    after = _earlier(url, delivery_id)
    attempt = Attempt(code, output, audit, all(after.get(t) == v for t, v in before.items()))
    assert "Traceback" not in output, output
    assert not CPR_SHAPED.search(output), "a CPR-shaped value reached the output"
    return attempt


def _earlier(url: str, delivery_id: str) -> dict[str, tuple[Any, ...]]:
    """Each raw and quarantine table's rows of every other delivery: count and content hash."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select schemaname || '.' || tablename from pg_tables "
            "where schemaname in ('raw', 'quarantine') order by 1"
        ).fetchall()
        found = {}
        for (table,) in tables:
            row = conn.execute(
                f"select count(*), md5(coalesce(string_agg(x::text, '' order by x::text), '')) "
                f"from {table} x where x._delivery_id <> %s",
                (delivery_id,),
            ).fetchone()
            assert row is not None
            found[table] = row
        return found


def assert_refused(attempt: Attempt, *fragments: str) -> None:
    """Exit 1 with one error line holding each fragment, the same reason in the audit, and
    nothing loaded before changed."""
    line = attempt.error_line()
    for fragment in fragments:
        assert fragment in line, line
    assert attempt.exit_code == 1
    assert attempt.audit is not None and attempt.audit[0] == "refused", attempt.audit
    reason = attempt.audit[1]
    assert "\n" not in reason and all(f in reason for f in fragments), reason
    assert attempt.earlier_unchanged


def assert_loaded(attempt: Attempt) -> None:
    assert attempt.exit_code == 0, attempt.output
    assert attempt.audit is not None and attempt.audit[0] == "loaded", attempt.audit
    assert attempt.earlier_unchanged


def quarantined(url: str, source: str, table: str, delivery_id: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r
            for (r,) in conn.execute(
                f"select reason from quarantine.{source}__{table} where _delivery_id = %s "
                "order by _row_number",
                (delivery_id,),
            )
        ]


def edit_manifest(folder: Path, change: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``change`` to the manifest document and write it back."""
    doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    change(doc)
    (folder / "manifest.json").write_text(json.dumps(doc), encoding="utf-8")


def rehash(folder: Path) -> None:
    """Make the manifest's checksums match the (edited) files again."""

    def update(doc: dict[str, Any]) -> None:
        for entry in doc["files"]:
            if (folder / entry["name"]).is_file():
                entry["sha256"] = sha256_of(folder / entry["name"])

    edit_manifest(folder, update)


def outcomes_delivery(root: Path, delivery_id: str, rows: list[dict[str, object]]) -> Path:
    return write_delivery(root, "outcomes", {"vurderinger": rows}, delivery_id=delivery_id)


# --- a delivery is a closed folder ------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A well-formed outcomes file outside any delivery folder (what a crafted manifest
    would reach for)."""
    folder = outcomes_delivery(tmp_path / "elsewhere", "x", [assessment(i) for i in range(3)])
    return folder / "outcomes.csv"


def _pointing_at(tmp_path: Path, delivery_id: str, name: str, target: Path) -> Path:
    """An outcomes delivery whose manifest names ``name`` for the table, with ``target``'s
    checksum and row count (as a crafted manifest would)."""
    folder = outcomes_delivery(tmp_path, delivery_id, [assessment(1)])
    (folder / "outcomes.csv").unlink()

    def point(doc: dict[str, Any]) -> None:
        doc["files"][0].update(name=name, rows=3)
        if target.is_file():
            doc["files"][0]["sha256"] = sha256_of(target)

    edit_manifest(folder, point)
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("absolute", "is an absolute path"),
        ("dotdot", "leaves the delivery folder"),
        ("symlink", "is a symlink"),
        ("symlinked-folder", "lies in a symlinked folder"),
    ],
)
def test_manifest_paths_outside_the_folder_are_refused(
    warehouse: str,
    tmp_path: Path,
    outside: Path,
    case: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delivery_id = f"path-{case}"
    names = {
        "absolute": str(outside),
        "dotdot": os.path.relpath(outside, tmp_path / "outcomes" / delivery_id),
        "symlink": "outcomes.csv",
        "symlinked-folder": "data/outcomes.csv",
    }
    folder = _pointing_at(tmp_path, delivery_id, names[case], outside)
    if case == "symlink":
        (folder / "outcomes.csv").symlink_to(outside)
    if case == "symlinked-folder":
        (folder / "data").symlink_to(outside.parent, target_is_directory=True)
    attempt = ingest(warehouse, "outcomes", folder, monkeypatch, capsys)
    assert_refused(attempt, expected)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("fifo", "is not a regular file (a FIFO)"),
        ("dev-zero", "is a symlink"),
        ("folder", "is not a regular file (a folder)"),
    ],
)
def test_files_that_are_no_regular_files_are_refused_unread(
    warehouse: str,
    tmp_path: Path,
    case: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A FIFO or /dev/zero would hang the loader holding the source's lock; a folder crash it."""
    folder = _pointing_at(tmp_path, f"special-{case}", "outcomes.csv", Path("/dev/zero"))
    if case == "fifo":
        os.mkfifo(folder / "outcomes.csv")
    elif case == "dev-zero":
        (folder / "outcomes.csv").symlink_to("/dev/zero")
    else:
        (folder / "outcomes.csv").mkdir()
    attempt = ingest(warehouse, "outcomes", folder, monkeypatch, capsys)
    assert_refused(attempt, f"'outcomes.csv' {expected}")


def test_a_manifest_that_is_a_symlink_to_dev_zero_is_refused_unread(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = outcomes_delivery(tmp_path, "manifest-zero", [assessment(1)])
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to("/dev/zero")
    attempt = ingest(warehouse, "outcomes", folder, monkeypatch, capsys)
    assert_refused(attempt, "manifest.json is a symlink")


# --- encodings ----------------------------------------------------------------------------

CP1252_NAME = "Faktor IX – “aktivitet” €"


def _lab(tmp_path: Path, delivery_id: str, encoding: str, declared: str | None = None) -> Path:
    name = CP1252_NAME if encoding == "cp1252" else "Blødningstid æøå"
    rows = [lab_result(i, analysenavn=name) for i in range(4)]
    folder = write_delivery(
        tmp_path, "lab", {"resultater": rows}, delivery_id=delivery_id, encoding=encoding
    )
    if declared:
        edit_manifest(folder, lambda doc: doc.update(encoding=declared))
    return folder


def test_a_cp1252_file_keeps_its_dashes_quotes_and_euro_signs(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bytes 0x80-0x9F are € – “ ” in cp1252 and control characters in Latin-1."""
    folder = _lab(tmp_path, "lab-cp1252", "cp1252")
    assert_loaded(ingest(warehouse, "lab", folder, monkeypatch, capsys))
    with psycopg.connect(warehouse) as conn:
        names = conn.execute(
            "select distinct analysenavn from raw.lab__resultater where _delivery_id = %s",
            ("lab-cp1252",),
        ).fetchall()
    assert names == [(CP1252_NAME,)]


def test_a_stray_latin1_byte_in_a_utf8_file_is_refused_with_its_offset(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Read as Latin-1 (as before), every æøå of the file would become mojibake."""
    folder = _lab(tmp_path, "lab-stray", "utf-8")
    data = (folder / "lab.csv").read_bytes()
    offset = data.rindex(b"%")
    (folder / "lab.csv").write_bytes(data[:offset] + b"\xb5" + data[offset + 1 :])  # µ
    rehash(folder)
    attempt = ingest(warehouse, "lab", folder, monkeypatch, capsys)
    assert_refused(attempt, f"lab.csv: not valid UTF-8 at byte offset {offset}", "re-export")


@pytest.mark.parametrize(
    ("written", "declared", "expected"),
    [
        ("latin-1", "utf-8", "lab.csv: not valid UTF-8 at byte offset"),
        ("cp1252", "latin-1", "is a control character in Latin-1; if the file is cp1252"),
        ("utf-8", "iso-8859-1", "declared latin-1 but its non-ASCII bytes form UTF-8"),
        ("utf-8", "utf-16", "encoding 'utf-16' is not supported"),
    ],
)
def test_the_manifests_declared_encoding_is_honoured(
    warehouse: str,
    tmp_path: Path,
    written: str,
    declared: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file that contradicts its declaration is refused, never read in another encoding."""
    folder = _lab(tmp_path, f"lab-{written}-as-{declared}", written, declared)
    attempt = ingest(warehouse, "lab", folder, monkeypatch, capsys)
    assert_refused(attempt, expected)


def test_a_declared_encoding_the_file_bears_out_loads(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _lab(tmp_path, "lab-declared-cp1252", "cp1252", "windows-1252")
    assert_loaded(ingest(warehouse, "lab", folder, monkeypatch, capsys))


# --- values -------------------------------------------------------------------------------


def test_values_that_would_change_silently_are_quarantined_with_the_reason(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        assessment(0),
        assessment(1, faktor_ix_aktivitet="1e999"),
        assessment(2, vurderingsdato="12-05-20211"),
        assessment(3, vurderingsdato="2024-03-01x"),
        assessment(4, eq5d_index="1,5"),
        assessment(5, faktor_ix_aktivitet="-3"),
        assessment(6, abr="-0,5"),
        assessment(7, tidspunkt="  "),
    ]
    folder = outcomes_delivery(tmp_path, "o-values", rows)
    assert_loaded(ingest(warehouse, "outcomes", folder, monkeypatch, capsys))
    assert quarantined(warehouse, "outcomes", "vurderinger", "o-values") == [
        "faktor_ix_aktivitet: not a finite number",
        "vurderingsdato: invalid date",
        "vurderingsdato: invalid date",
        "eq5d_index: above the maximum 1",
        "faktor_ix_aktivitet: below the minimum 0",
        "abr: below the minimum 0",
        "tidspunkt: missing",
    ]
    with psycopg.connect(warehouse) as conn:
        loaded = conn.execute(
            "select count(*) from raw.outcomes__vurderinger where _delivery_id = 'o-values'"
        ).fetchone()
    assert loaded == (1,)


def test_blank_required_codes_and_trailing_digits_in_timestamps_are_quarantined(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        lab_result(0),
        lab_result(1, npu_kode="   "),
        lab_result(2, proevetid="01-02-20241 10:30"),
        lab_result(3, proevetid="01-02-2024 10:301"),
    ]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-values")
    assert_loaded(ingest(warehouse, "lab", folder, monkeypatch, capsys))
    assert quarantined(warehouse, "lab", "resultater", "lab-values") == [
        "npu_kode: missing",
        "proevetid: invalid timestamp",
        "proevetid: invalid timestamp",
    ]


def test_doses_below_zero_are_quarantined(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        {"cpr": cpr(i), "adm_dato": "2024-01-02", "atc": "L01XL03", "dosis": dose}
        for i, dose in enumerate(["2,0", "-2,0", "inf"])
    ]
    folder = write_delivery(
        tmp_path, "sygehusmedicin", {"administrationer": rows}, delivery_id="shm-dose"
    )
    assert_loaded(ingest(warehouse, "sygehusmedicin", folder, monkeypatch, capsys))
    assert quarantined(warehouse, "sygehusmedicin", "administrationer", "shm-dose") == [
        "dosis: below the minimum 0",
        "dosis: not a number",
    ]


def test_an_upper_case_checksum_is_the_same_checksum(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Windows tools print sha256 in upper case; that is no sign of alteration in transit."""
    folder = outcomes_delivery(tmp_path, "o-upper", [assessment(i) for i in range(3)])
    edit_manifest(
        folder, lambda doc: doc["files"][0].update(sha256=doc["files"][0]["sha256"].upper())
    )
    assert_loaded(ingest(warehouse, "outcomes", folder, monkeypatch, capsys))


# --- malformed manifests and files ------------------------------------------------------


def _write_manifest_bytes(folder: Path, data: bytes) -> None:
    (folder / "manifest.json").write_bytes(data)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("rows-as-text", "files[0].rows must be a whole number ≥ 0, not a string"),
        ("numeric-id", "delivery_id must be a non-empty string, not a number"),
        ("files-not-a-list", "files must be a list, not an object"),
        ("bad-cutoff", "cutoff_date must be a real date as YYYY-MM-DD"),
        ("bad-sha", "files[0].sha256 must be 64 hexadecimal digits"),
        ("bom", "manifest.json starts with a byte-order mark; save it as UTF-8 without BOM"),
        ("invalid-json", "manifest.json is not valid JSON (Expecting"),
        ("deep-json", "manifest.json is nested too deeply"),
        ("array", "manifest.json must hold a JSON object, not a list"),
        ("listed-twice", "lists file 'outcomes.csv' twice"),
        ("table-twice", "manifest lists 2 files for table vurderinger; send one"),
        ("folder", "manifest.json is not a regular file (a folder)"),
    ],
)
def test_malformed_manifests_are_refused_with_one_line(
    warehouse: str,
    tmp_path: Path,
    case: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = outcomes_delivery(tmp_path, f"m-{case}", [assessment(i) for i in range(3)])
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    changes: dict[str, Callable[[dict[str, Any]], object]] = {
        "rows-as-text": lambda doc: doc["files"][0].update(rows="3"),
        "numeric-id": lambda doc: doc.update(delivery_id=504),
        "files-not-a-list": lambda doc: doc.update(files={"name": "outcomes.csv"}),
        "bad-cutoff": lambda doc: doc.update(cutoff_date="30-09-2026"),
        "bad-sha": lambda doc: doc["files"][0].update(sha256="abc"),
        "listed-twice": lambda doc: doc["files"].append(dict(doc["files"][0], table="again")),
        "table-twice": lambda doc: doc["files"].append(dict(doc["files"][0], name="again.csv")),
    }
    if case == "table-twice":
        (folder / "again.csv").write_bytes((folder / "outcomes.csv").read_bytes())
    if case in changes:
        edit_manifest(folder, changes[case])
    elif case == "bom":
        _write_manifest_bytes(folder, b"\xef\xbb\xbf" + text.encode("utf-8"))
    elif case == "invalid-json":
        _write_manifest_bytes(folder, text.replace('"files"', "files").encode())
    elif case == "deep-json":
        _write_manifest_bytes(folder, b"[" * 100_000 + b"]" * 100_000)
    elif case == "array":
        _write_manifest_bytes(folder, b"[]")
    else:
        (folder / "manifest.json").unlink()
        (folder / "manifest.json").mkdir()
    attempt = ingest(warehouse, "outcomes", folder, monkeypatch, capsys)
    assert_refused(attempt, expected)


def test_a_duplicated_column_is_refused(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = outcomes_delivery(tmp_path, "o-dup", [assessment(i) for i in range(3)])
    path = folder / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(f"{line};{line.split(';')[3]}" for line in lines) + "\n")
    rehash(folder)
    attempt = ingest(warehouse, "outcomes", folder, monkeypatch, capsys)
    assert_refused(attempt, "outcomes.csv: duplicated column names produkt")


def test_a_column_and_its_alias_both_delivered_are_refused(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = write_delivery(
        tmp_path,
        "outcomes_crossborder",
        {"patients": [{"foreign_patient_id": "SE-1"}], "assessments": []},
        delivery_id="xb-alias",
    )
    path = folder / "assessments.csv"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + ";behandlingscenter\n")
    rehash(folder)
    attempt = ingest(warehouse, "outcomes_crossborder", folder, monkeypatch, capsys)
    assert_refused(attempt, "column behandlingssted is delivered twice")


def test_a_nested_parquet_column_is_refused(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "lmdb" / "lmdb-nested"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "cpr": [cpr(1)],
            "eksd": [date(2024, 1, 2)],
            "atc": pa.array([{"code": "B02BD04", "level": 5}]),
            "vnr": ["123456"],
            "apk": [1.0],
            "packsize": ["1"],
            "volume": [1.0],
            "indo": [None],
        }
    )
    pq.write_table(table, folder / "lmdb.parquet")
    write_manifest(
        folder,
        source="lmdb",
        delivery_id="lmdb-nested",
        cutoff_date=date(2026, 9, 30),
        files=[("lmdb.parquet", "ekspeditioner", 1)],
    )
    attempt = ingest(warehouse, "lmdb", folder, monkeypatch, capsys)
    assert_refused(attempt, "lmdb.parquet: column atc is nested (struct<code: string")


def test_a_ragged_row_is_refused_without_quoting_the_row(
    warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Arrow's parse error ends with the whole row (names, a CPR written with a space)."""
    rows = [lab_result(i) for i in range(3)]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-ragged")
    path = folder / "lab.csv"
    spaced = f"{cpr(1)[:6]} {cpr(1)[6:]}"
    path.write_text(path.read_text(encoding="utf-8") + f"{spaced};Søren Åberg;x;y;z;1;2;3;4\n")
    edit_manifest(folder, lambda doc: doc["files"][0].update(rows=4))
    rehash(folder)
    attempt = ingest(warehouse, "lab", folder, monkeypatch, capsys)
    assert_refused(attempt, "lab.csv: malformed or truncated (CSV parse error:", "got 9)")
    assert "Åberg" not in attempt.output and "Åberg" not in attempt.audit[1]


def test_a_load_that_stops_leaves_no_reader_thread_behind() -> None:
    """A consumer that fails (a refused file, a lost connection) stops the reader thread at
    once, even when the reader has finished and waits to hand over its end marker."""
    import threading
    import time

    from registry_ingest.prefetch import prefetch

    before = threading.active_count()
    batches = prefetch(iter(range(2)), depth=1)
    next(batches)
    time.sleep(0.2)  # the reader fills the queue and waits to add its end marker
    started = time.monotonic()
    batches.close()
    assert time.monotonic() - started < 1
    assert threading.active_count() == before


def test_listing_pending_deliveries_never_waits_on_a_fifo_manifest(
    warehouse: str, tmp_path: Path
) -> None:
    """The DAG lists pending folders by their manifests' ids; a FIFO named manifest.json
    would block that listing (and every load of the source) for ever."""
    import threading

    from medfollow_core.landing.folders import pending_deliveries

    folder = tmp_path / "outcomes" / "fifo-manifest"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "manifest.json")
    found: list[list[Path]] = []
    lister = threading.Thread(
        target=lambda: found.append(pending_deliveries(tmp_path, "outcomes", warehouse)),
        daemon=True,
    )
    lister.start()
    lister.join(timeout=10)
    assert found == [[folder]]
