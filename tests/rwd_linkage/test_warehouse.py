"""COPY round trips keep text exactly: NULL apart from empty, Danish letters, quotes, newlines."""

from __future__ import annotations

import psycopg
import pyarrow as pa
from psycopg import sql

from medfollow_core.warehouse import catalog
from rwd_linkage import warehouse

VALUES = [None, "", "Søren Ågård", 'O"Brien; Jr', "two\nlines", "  padded  "]


def test_read_and_write_arrow_round_trip(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("create temp table words (i int, word text)")
        warehouse.write_arrow(
            conn,
            "words",
            pa.table(
                {
                    "i": pa.array(range(len(VALUES)), pa.int32()),
                    "word": pa.array(VALUES, pa.string()),
                }
            ),
        )
        table = warehouse.read_arrow(conn, sql.SQL("select i, word from words order by i"))
        assert table["word"].to_pylist() == VALUES
        assert table["i"].to_pylist() == [str(i) for i in range(len(VALUES))]
        empty = warehouse.read_arrow(conn, sql.SQL("select word from words where false"))
        assert empty.num_rows == 0 and empty.column_names == ["word"]


def test_schema_is_idempotent(db_url: str) -> None:
    for _ in range(2):
        with psycopg.connect(db_url) as conn:
            warehouse.ensure_schema(conn)
    with psycopg.connect(db_url) as conn:
        assert catalog.table_exists(conn, "linkage.person_links")
        assert {
            "source",
            "record_id",
            "person_key",
            "method",
            "match_probability",
            "run_id",
        } <= catalog.columns_of(conn, "linkage", "person_links")
