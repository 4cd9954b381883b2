"""COPY round trips keep text exactly: NULL apart from empty, Danish letters, quotes, newlines."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

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
        assert {
            "source",
            "record_id",
            "person_key",
            "method",
            "match_probability",
            "run_id",
        } <= catalog.columns_of(conn, "linkage", "person_links")
        assert conn.execute("select count(*) from linkage.key_succession()").fetchone() == (0,)


def test_a_warehouse_without_bootstrap_is_refused_in_one_line(server_url: str) -> None:
    name = f"medfollow_test_bare_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(urlsplit(server_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        bare = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        with psycopg.connect(bare) as conn, pytest.raises(MedfollowError) as refused:
            warehouse.require_schema(conn)
        assert str(refused.value) == (
            "the warehouse has no linkage tables: bootstrap it first (medfollow db start)"
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
