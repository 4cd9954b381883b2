"""COPY round trips keep text exactly: NULL apart from empty, Danish letters, quotes, newlines."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse import catalog
from medfollow_core.warehouse.bootstrap import bootstrap
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


def test_linkage_tables_come_with_the_bootstrap(db_url: str) -> None:
    bootstrap(db_url)  # again: idempotent
    with psycopg.connect(db_url) as conn:
        warehouse.require_schema(conn)
        assert catalog.table_exists(conn, "linkage.person_links")
        assert conn.execute("select count(*) from linkage.key_succession()").fetchone() == (0,)


def test_a_warehouse_without_bootstrap_is_refused_in_one_line(server_url: str) -> None:
    with psycopg.connect(server_url) as conn:
        conn.execute("create temp table probe (i int)")  # any database without linkage.*
        if catalog.table_exists(conn, "linkage.person_links"):
            pytest.skip("the server's default database is bootstrapped")
        with pytest.raises(MedfollowError, match="no linkage tables"):
            warehouse.require_schema(conn)
        assert {
            "source",
            "record_id",
            "person_key",
            "method",
            "match_probability",
            "run_id",
        } <= catalog.columns_of(conn, "linkage", "person_links")
