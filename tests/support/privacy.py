"""The privacy check several tests share: is any valid CPR number stored anywhere?"""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa

from medfollow_core.cpr import validate_cpr_column
from medfollow_core.cpr_shape import CPR_SHAPED


def columns_holding_cprs(url: str) -> tuple[int, list[str]]:
    """(columns scanned, the ones holding a valid CPR number) over the whole database.

    Text, JSON and whole-number columns: a CPR typed as a number is as much a leak."""
    leaks: list[str] = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """select table_schema, table_name, column_name from information_schema.columns
                where table_schema not in ('pg_catalog', 'information_schema')
                  and data_type in ('text', 'character varying', 'jsonb', 'bigint', 'numeric', 'double precision')"""
        ).fetchall()
        for schema, table, column in columns:
            values = conn.execute(f'select "{column}"::text from "{schema}"."{table}"').fetchall()
            candidates = [
                m for (v,) in values if v for m in (hit.group(0) for hit in CPR_SHAPED.finditer(v))
            ]
            digits = [re.sub(r"\D", "", m) for m in candidates]
            clean, _, _ = validate_cpr_column(pa.array(digits, pa.string()))
            if any(clean.to_pylist()):
                leaks.append(f"{schema}.{table}.{column}")
    return len(columns), leaks
