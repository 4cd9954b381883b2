"""The raw layout: one table per delivery under ``raw.<source>__<table>``, its delivery id and
load time held once in the catalogue, yet read on every row through the raw table."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from registry_ingest.pipeline import ingest_delivery
from support.deliveries import contacts_with_diagnoses, make_cpr, write_delivery

pytestmark = pytest.mark.integration


def lab_rows(first: int, n: int) -> list[dict[str, object]]:
    start = datetime(2024, 1, 1, 8, 0)
    return [
        {
            "cpr": make_cpr(date(1960 + i % 40, 1 + i % 12, 1 + i % 28), i),
            "proevetid": f"{start + timedelta(minutes=i):%d-%m-%Y %H:%M}",
            "npu_kode": "NPU01566",
            "analysenavn": f"analyse {i}",
            "vaerdi": "35,5",
            "enhed": "%",
        }
        for i in range(first, first + n)
    ]


def persons(first: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "cpr": make_cpr(date(1950 + i % 50, 1 + i % 12, 1 + i % 28), i),
            "koen": "1",
            "foedselsdato": f"{date(1950 + i % 50, 1 + i % 12, 1 + i % 28):%d-%m-%Y}",
            "status": "01",
        }
        for i in range(first, first + n)
    ]


def delivery_tables(conn: psycopg.Connection, parent: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select inhrelid::regclass::text from pg_inherits "
            "where inhparent = %s::regclass order by 1",
            (parent,),
        ).fetchall()
    ]


def test_each_delivery_gets_a_table_whose_lineage_is_not_stored_per_row(
    url: str, key: bytes, tmp_path: Path
) -> None:
    for delivery, first in (("lab-1", 0), ("lab-2", 100)):
        folder = write_delivery(
            tmp_path, "lab", {"resultater": lab_rows(first, 30)}, delivery_id=delivery
        )
        assert ingest_delivery(folder, url=url, key=key).status == "loaded"
    with psycopg.connect(url) as conn:
        attempts = dict(
            conn.execute(
                "select delivery_id, attempt_id from audit.deliveries where status = 'loaded'"
            ).fetchall()
        )
        assert delivery_tables(conn, "raw.lab__resultater") == [
            f"raw.lab__resultater__a{attempts['lab-1']}",
            f"raw.lab__resultater__a{attempts['lab-2']}",
        ]
        # delivery id and load time: once in the catalogue (attmissingval), no per-row bytes
        stored = conn.execute(
            "select attname, atthasmissing from pg_attribute "
            "where attrelid = %s::regclass and attname like '\\_%%' order by attname",
            (f"raw.lab__resultater__a{attempts['lab-2']}",),
        ).fetchall()
        assert stored == [("_delivery_id", True), ("_loaded_at", True), ("_row_number", False)]
        lineage = conn.execute(
            "select _delivery_id, min(_row_number), max(_row_number), count(*), "
            "count(distinct _loaded_at), bool_and(analysenavn = 'analyse ' || "
            "(_row_number - 1 + case _delivery_id when 'lab-1' then 0 else 100 end)) "
            "from raw.lab__resultater group by 1 order by 1"
        ).fetchall()
        assert lineage == [("lab-1", 1, 30, 30, 1, True), ("lab-2", 1, 30, 30, 1, True)]
        loaded_at = conn.execute(
            "select (select max(_loaded_at) from raw.lab__resultater r "
            "where r._delivery_id = d.delivery_id) between d.started_at and d.finished_at "
            "from audit.deliveries d where status = 'loaded'"
        ).fetchall()
        assert loaded_at == [(True,), (True,)]
        assert conn.execute(
            "select raw_table, delivery_id, attempt_id from audit.raw_deliveries order by 3"
        ).fetchall() == [
            ("raw.lab__resultater", "lab-1", attempts["lab-1"]),
            ("raw.lab__resultater", "lab-2", attempts["lab-2"]),
        ]
        assert conn.execute(
            "select count(*) from audit.raw_deliveries r join raw.lab__resultater l "
            "on l.tableoid = r.delivery_table::regclass and l._loaded_at = r.loaded_at"
        ).fetchone() == (60,)


def test_a_snapshot_replaces_the_earlier_deliveries_tables_and_rows_of_the_parent(
    url: str, key: bytes, tmp_path: Path
) -> None:
    first = write_delivery(
        tmp_path, "cpr", {"persons": persons(0, 40)}, delivery_id="cpr-1", cutoff=date(2026, 8, 31)
    )
    assert ingest_delivery(first, url=url, key=key).status == "loaded"
    with psycopg.connect(url) as conn:  # a row an older warehouse or a hand fix put in the parent
        conn.execute(
            "insert into raw.cpr__persons (person_key, koen, foedselsdato, status, "
            "_delivery_id) values ('by-hand', '2', '1970-01-01', '01', 'fix')"
        )
    second = write_delivery(
        tmp_path, "cpr", {"persons": persons(0, 41)}, delivery_id="cpr-2", cutoff=date(2026, 9, 30)
    )
    assert ingest_delivery(second, url=url, key=key).status == "loaded"
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select _delivery_id, count(*) from raw.cpr__persons group by 1"
        ).fetchall() == [("cpr-2", 41)]
        assert len(delivery_tables(conn, "raw.cpr__persons")) == 1


def test_a_table_without_rows_in_the_delivery_gets_no_delivery_table(
    url: str, key: bytes, tmp_path: Path
) -> None:
    folder = write_delivery(tmp_path, "cpr", {"persons": persons(0, 5)})
    assert ingest_delivery(folder, url=url, key=key).status == "loaded"
    with psycopg.connect(url) as conn:
        assert len(delivery_tables(conn, "raw.cpr__persons")) == 1
        assert delivery_tables(conn, "raw.cpr__migrations") == []
        assert conn.execute("select count(*) from raw.cpr__migrations").fetchone() == (0,)


def lineage_stored(conn: psycopg.Connection, table: str) -> list[tuple[str, bool]]:
    """(lineage column, held once in the catalogue) of a delivery table."""
    return conn.execute(
        "select attname, atthasmissing from pg_attribute "
        "where attrelid = %s::regclass and attname like '\\_%%' and not attisdropped "
        "order by attname",
        (table,),
    ).fetchall()


def test_a_table_without_numbered_rows_stores_no_lineage_in_any_row(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """LPR3 diagnoses hang off their contact and nothing downstream tells two of them apart
    by file row: their delivery table stores no lineage column at all."""
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-1", 5), url=url, key=key).ok
    with psycopg.connect(url) as conn:
        (child,) = delivery_tables(conn, "raw.lpr3__diagnoser")
        assert lineage_stored(conn, child) == [("_delivery_id", True), ("_loaded_at", True)]
        assert conn.execute(
            "select _delivery_id, count(*) from raw.lpr3__diagnoser group by 1"
        ).fetchall() == [("lpr3-1", 10)]


def test_rows_moved_out_after_loading_keep_their_record_without_a_row_number(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """A contact sent again is quarantined as a duplicate after loading, and its diagnoses
    follow it: they left a table without row numbers, so their record identifies them."""
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-1", 3), url=url, key=key).ok
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-2", 4), url=url, key=key).ok
    with psycopg.connect(url) as conn:
        moved = conn.execute(
            "select _row_number, reason, record from quarantine.lpr3__diagnoser "
            "where _delivery_id = 'lpr3-2' order by record ->> 'dw_ek_kontakt', "
            "record ->> 'diagnosetype'"
        ).fetchall()
        assert [(n, r) for n, r, _ in moved] == [
            (None, "dw_ek_kontakt: its kontakter row is quarantined")
        ] * 6
        assert moved[0][2] == {
            "dw_ek_kontakt": "K0",
            "diagnosekode": "DC833",
            "diagnosetype": "A",
            "senere_afkraeftet": None,
        }
        assert conn.execute(
            "select count(*) from raw.lpr3__diagnoser where _delivery_id = 'lpr3-2'"
        ).fetchone() == (2,)


def test_a_warehouse_made_before_stops_numbering_rows_its_contract_does_not_number(
    url: str, key: bytes, tmp_path: Path
) -> None:
    """An older warehouse's raw table has ``_row_number`` and its quarantine requires one.
    The next load drops the column from the raw table, so new deliveries store none; the
    delivery tables already there keep theirs, and the quarantine takes rows without one."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "create table raw.lpr3__diagnoser (dw_ek_kontakt text, diagnosekode text, "
            "diagnosetype text, senere_afkraeftet boolean, _delivery_id text not null, "
            "_row_number bigint not null, _loaded_at timestamptz not null default now())"
        )
        conn.execute(
            "create table raw.lpr3__diagnoser__old (dw_ek_kontakt text, diagnosekode text, "
            "diagnosetype text, senere_afkraeftet boolean, _delivery_id text not null, "
            "_row_number bigint not null, _loaded_at timestamptz not null default now())"
        )
        conn.execute(
            "insert into raw.lpr3__diagnoser__old values ('K9', 'DC833', 'A', null, 'old', 7)"
        )
        conn.execute("alter table raw.lpr3__diagnoser__old inherit raw.lpr3__diagnoser")
        conn.execute(
            "create table quarantine.lpr3__diagnoser (_delivery_id text not null, "
            "_row_number bigint not null, reason text not null, record jsonb not null)"
        )
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-1", 3), url=url, key=key).ok
    assert ingest_delivery(contacts_with_diagnoses(tmp_path, "lpr3-2", 4), url=url, key=key).ok
    with psycopg.connect(url) as conn:
        assert "_row_number" not in {
            name for (name, _) in lineage_stored(conn, "raw.lpr3__diagnoser")
        }
        assert conn.execute(
            "select _delivery_id, count(*) from raw.lpr3__diagnoser group by 1 order by 1"
        ).fetchall() == [("lpr3-1", 6), ("lpr3-2", 2), ("old", 1)]
        assert conn.execute("select _row_number from raw.lpr3__diagnoser__old").fetchall() == [(7,)]
        assert conn.execute(
            "select count(*), count(_row_number) from quarantine.lpr3__diagnoser"
        ).fetchone() == (6, 0)
