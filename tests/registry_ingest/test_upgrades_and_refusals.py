"""An older warehouse brought to the current layout without locking readers out of a load;
a numbered table without row numbers refused; a file altered in transit refused for its
checksum even when its rows were COPYed before the hashing finished."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medfollow_core.landing.manifest import write_manifest
from registry_ingest import pipeline
from registry_ingest.pipeline import ingest_delivery
from support.deliveries import contacts_with_diagnoses, make_cpr, write_delivery

pytestmark = pytest.mark.integration


def _old_lpr3_diagnoses(url: str) -> None:
    """raw.lpr3__diagnoser as warehouses made when every table was numbered have it:
    _row_number not null, one delivery table under it."""
    with psycopg.connect(url) as conn:
        for name in ("raw.lpr3__diagnoser", "raw.lpr3__diagnoser__old"):
            conn.execute(
                f"create table {name} (dw_ek_kontakt text, diagnosekode text, "
                "diagnosetype text, senere_afkraeftet boolean, _delivery_id text not null, "
                "_row_number bigint not null, _loaded_at timestamptz not null default now())"
            )
        conn.execute(
            "insert into raw.lpr3__diagnoser__old values ('K9', 'DC833', 'A', null, 'old', 7)"
        )
        conn.execute("alter table raw.lpr3__diagnoser__old inherit raw.lpr3__diagnoser")


def _reader_blocked_during_load(
    url: str, key: bytes, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Load ``folder``; while its first COPY runs, a reader (1 s lock_timeout) counts
    raw.lpr3__diagnoser from another connection. Returns what the reader hit."""
    hits: list[str] = []
    real_copy_csv = pipeline.copy_csv

    def read_meanwhile() -> None:
        with psycopg.connect(url, autocommit=True) as reader:
            reader.execute("set lock_timeout = '1s'")
            try:
                reader.execute("select count(*) from raw.lpr3__diagnoser").fetchone()
                hits.append("read")
            except psycopg.errors.LockNotAvailable as exc:
                hits.append(f"blocked: {str(exc).splitlines()[0]}")

    def copy_csv(*args: object, **kwargs: object) -> None:
        if not hits:
            worker = threading.Thread(target=read_meanwhile)
            worker.start()
            worker.join()
        real_copy_csv(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "copy_csv", copy_csv)
    outcome = ingest_delivery(folder, url=url, key=key)
    assert outcome.status == "loaded", outcome.reason
    return hits


def test_an_older_layout_is_upgraded_without_locking_readers_out_of_the_load(
    url: str, key: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping ``_row_number`` from an older raw table takes an exclusive lock: it runs in
    a short transaction of its own before the load, so a reader is not held up while the
    load COPYs (the promise of load.py), on the first load after the upgrade as on later
    ones."""
    _old_lpr3_diagnoses(url)
    migrating = _reader_blocked_during_load(
        url, key, contacts_with_diagnoses(tmp_path, "lpr3-1", 3), monkeypatch
    )
    later = _reader_blocked_during_load(
        url, key, contacts_with_diagnoses(tmp_path, "lpr3-2", 3), monkeypatch
    )
    assert migrating == later == ["read"]
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from pg_attribute where attrelid = 'raw.lpr3__diagnoser'::regclass "
            "and attname = '_row_number' and not attisdropped"
        ).fetchone() == (0,)


def test_an_upgrade_a_reader_holds_up_waits_for_a_later_load(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """A reader holding the older raw table past the upgrade's lock timeout: the load runs
    on the older layout (its rows numbered as before), and the next load upgrades."""
    _old_lpr3_diagnoses(url)
    with psycopg.connect(url) as reader:
        reader.execute("select count(*) from raw.lpr3__diagnoser").fetchone()  # holds a lock
        outcome = ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-1", 3), url=url, key=key)
        assert outcome.status == "loaded", outcome.reason
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-2", 4), url=url, key=key).ok
    with psycopg.connect(url) as conn:
        numbered = conn.execute(
            "select c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "where c.relnamespace = 'raw'::regnamespace and c.relname like 'lpr3%%' "
            "and a.attname = '_row_number' and not a.attisdropped order by 1"
        ).fetchall()
        assert numbered == [
            ("lpr3__diagnoser__a1",),
            ("lpr3__diagnoser__old",),
        ]  # the first load's table; the upgraded raw table and the second load's have none


def test_a_numbered_table_whose_raw_table_has_no_row_numbers_is_refused(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """A contract that turned 'numbered: true' after its raw table was made: the rows there
    have no file row, so their ids (``lab_result_id``: delivery and row) would be null. The
    load is refused in one line, the warehouse as it was, rather than adding the column
    nullable."""
    with psycopg.connect(url) as conn:
        for name in ("raw.lab__resultater", "raw.lab__resultater__old"):
            conn.execute(
                f"create table {name} (person_key text, proevetid timestamp, npu_kode text, "
                "analysenavn text, vaerdi text, enhed text, _delivery_id text not null, "
                "_loaded_at timestamptz not null default now())"
            )
        conn.execute(
            "insert into raw.lab__resultater__old (person_key, npu_kode, _delivery_id) "
            "values ('p1', 'NPU01566', 'old'), ('p2', 'NPU01566', 'old')"
        )
        conn.execute("alter table raw.lab__resultater__old inherit raw.lab__resultater")
    rows = [
        {
            "cpr": make_cpr(date(1960, 1, 1), i),
            "proevetid": "01-01-2024 08:00",
            "npu_kode": "NPU01566",
            "analysenavn": "x",
            "vaerdi": "35,5",
            "enhed": "%",
        }
        for i in range(3)
    ]
    folder = write_delivery(tmp_path, "lab", {"resultater": rows}, delivery_id="lab-1")
    outcome = ingest_delivery(folder, url=url, key=key)
    assert outcome.status == "refused"
    assert "made without row numbers, but the contract now numbers its rows" in (
        outcome.reason or ""
    )
    with psycopg.connect(url) as conn:
        assert "_row_number" not in {
            name
            for (name,) in conn.execute(
                "select attname from pg_attribute "
                "where attrelid = 'raw.lab__resultater'::regclass and not attisdropped"
            )
        }
        assert conn.execute("select count(*) from raw.lab__resultater").fetchone() == (2,)


def test_an_altered_file_is_refused_for_its_checksum_whatever_its_rows_did(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """Rows are COPYed while the files are hashed; an altered file whose value PostgreSQL
    would not store (a NUL character, now a row error of its own) is refused for its
    checksum, in one line, and the attempt is finished."""
    folder = tmp_path / "lmdb" / "lmdb-altered"
    folder.mkdir(parents=True)

    def dispensing(atc: str) -> pa.Table:
        return pa.table(
            {
                "cpr": [make_cpr(date(1970, 1, 1), 1)],
                "eksd": [date(2024, 1, 2)],
                "atc": [atc],
                "vnr": ["123456"],
                "apk": [1.0],
                "packsize": ["1"],
                "volume": [1.0],
                "indo": [None],
            }
        )

    pq.write_table(dispensing("B02BD04"), folder / "lmdb.parquet")
    write_manifest(
        folder,
        source="lmdb",
        delivery_id="lmdb-altered",
        cutoff_date=date(2026, 9, 30),
        files=[("lmdb.parquet", "ekspeditioner", 1)],
    )
    pq.write_table(dispensing("B02\x00BD04"), folder / "lmdb.parquet")  # altered in transit
    outcome = ingest_delivery(folder, url=url, key=key)
    assert outcome.status == "refused"
    assert "checksum does not match" in (outcome.reason or "")
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select status from audit.deliveries where delivery_id = 'lmdb-altered'"
        ).fetchall() == [("refused",)]


def test_the_linkage_benchmark_loads_raw_tables_as_the_loader_lays_them_out(url: str) -> None:
    """bench/linkage.py copies its spine into raw.cpr__persons, which has no row numbers."""
    import importlib.util

    bench = Path(__file__).resolve().parents[2] / "bench" / "linkage.py"
    spec = importlib.util.spec_from_file_location("review_bench_linkage", bench)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._load_raw(url, "cpr", "persons", pa.table({"person_key": ["p1"], "koen": ["1"]}))


def test_a_value_the_warehouse_refuses_is_named_by_kind_never_quoted() -> None:
    """PostgreSQL quotes the value it refuses; the refusal (audit, logs) says only which
    kind of error it was."""
    error = psycopg.errors.InvalidDatetimeFormat(
        'invalid input syntax for type date: "Jensen 0101901234"'
    )
    reason = pipeline._refusal(error)
    assert reason == "the warehouse refused a value (InvalidDatetimeFormat)"
