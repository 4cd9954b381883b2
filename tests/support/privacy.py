"""The privacy check several tests share: is any valid CPR number stored anywhere?"""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa

from medfollow.ingest.convert import normalise_cpr

# Ten digits (an optional hyphen after the sixth) standing alone, not inside a hex pseudonym.
_SHAPED = re.compile(r"(?<![0-9A-Za-z])\d{6}-?\d{4}(?![0-9A-Za-z])")


def columns_holding_cprs(url: str) -> tuple[int, list[str]]:
    """(text columns scanned, the ones holding a valid CPR number) over the whole database."""
    leaks: list[str] = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """select table_schema, table_name, column_name from information_schema.columns
                where table_schema not in ('pg_catalog', 'information_schema')
                  and data_type in ('text', 'character varying', 'jsonb')""").fetchall()
        for schema, table, column in columns:
            values = conn.execute(f'select "{column}"::text from "{schema}"."{table}"').fetchall()
            candidates = [m for (v,) in values if v for m in _SHAPED.findall(v)]
            clean, _, _ = normalise_cpr(pa.array(candidates, pa.string()))
            if any(clean.to_pylist()):
                leaks.append(f"{schema}.{table}.{column}")
    return len(columns), leaks
