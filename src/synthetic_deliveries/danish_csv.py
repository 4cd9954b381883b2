"""Rendering columns the Danish way and writing delivery files.

Registry deliveries use `;` as separator, decimal comma, `DD-MM-YYYY` dates and often
Latin-1. Everything here works on whole columns (numpy in, pyarrow out) so a million-person
spine renders in seconds; the CSV body is written by pyarrow and only re-encoded when a
source delivers Latin-1. No quoting is used: generated values never contain `;`, quotes or
line breaks, and registry extracts typically arrive unquoted.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

NEVER = np.iinfo(np.int32).max
"""Day number meaning "did not happen (before the cut-off)"."""

_EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01, the representation of every date inside the generator."""
    return (d - _EPOCH).days


def to_date32(days: np.ndarray) -> pa.Array:
    """Day numbers as a date32 array; `NEVER` becomes null."""
    days = np.asarray(days, dtype=np.int32)
    return pa.array(days, mask=days == NEVER).cast(pa.date32())


def fmt_date(days: np.ndarray, style: str = "dmy") -> pa.Array:
    """Day numbers as `DD-MM-YYYY` (style "dmy") or ISO (style "iso"); `NEVER` → empty."""
    days = np.asarray(days, dtype=np.int32)
    known = days != NEVER
    if not known.any():
        return pa.nulls(len(days), pa.string())
    # Format each distinct calendar day once and look the rest up: strftime per row is
    # the slowest step of a million-person run otherwise.
    first, last = int(days[known].min()), int(days[known].max())
    iso = np.datetime_as_string(np.arange(first, last + 1).astype("datetime64[D]"), unit="D")
    calendar = pa.array(
        iso.tolist() if style == "iso" else [f"{s[8:10]}-{s[5:7]}-{s[0:4]}" for s in iso]
    )
    offsets = np.where(known, days - first, 0)
    return calendar.take(pa.array(offsets, mask=~known))


def fmt_time(minutes: np.ndarray) -> pa.Array:
    """Minutes after midnight as `HH:MM`."""
    minutes = np.asarray(minutes, dtype=np.int64)
    hh = _zero_pad(minutes // 60, 2)
    mm = _zero_pad(minutes % 60, 2)
    return pc.binary_join_element_wise(hh, mm, ":")


def fmt_datetime(days: np.ndarray, minutes: np.ndarray) -> pa.Array:
    """`DD-MM-YYYY HH:MM` from a day number and minutes after midnight."""
    return pc.binary_join_element_wise(fmt_date(days), fmt_time(minutes), " ")


def fmt_decimal(values: np.ndarray, decimals: int, missing: np.ndarray | None = None) -> pa.Array:
    """Numbers with a decimal comma and a fixed number of decimals; `missing` → empty.

    >>> fmt_decimal(np.array([3.14159, -0.5, 12.0]), 2).to_pylist()
    ['3,14', '-0,50', '12,00']
    """
    values = np.asarray(values, dtype=np.float64)
    scaled = np.round(np.abs(values) * 10**decimals).astype(np.int64)
    whole = pa.array(scaled // 10**decimals).cast(pa.string())
    sign = pa.array(np.where((values < 0) & (scaled > 0), "-", ""))
    text = pc.binary_join_element_wise(sign, whole, "")
    if decimals > 0:
        text = pc.binary_join_element_wise(text, _zero_pad(scaled % 10**decimals, decimals), ",")
    if missing is not None:
        text = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
    return text


def fmt_int(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers zero-padded to `width` digits."""
    return _zero_pad(np.asarray(values, dtype=np.int64), width)


def _zero_pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width=width, padding="0")


def hyphenate_some(cpr: pa.Array, rng: np.random.Generator, share: float) -> pa.Array:
    """Write a share of CPR numbers as `DDMMYY-SSSS`, as some source systems do."""
    pick = rng.random(len(cpr)) < share
    hyphenated = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(cpr, 0, 6), pc.utf8_slice_codeunits(cpr, 6, 10), "-"
    )
    return pc.if_else(pa.array(pick), hyphenated, cpr)


def write_csv(table: pa.Table, path: Path, *, encoding: str = "utf-8") -> int:
    """Write `table` as an unquoted `;` CSV in `encoding`; returns the number of rows."""
    body = io.BytesIO()
    pacsv.write_csv(
        table,
        body,
        write_options=pacsv.WriteOptions(
            include_header=False, delimiter=";", quoting_style="none", batch_size=65536
        ),
    )
    data = (";".join(table.column_names) + "\n").encode("utf-8") + body.getvalue()
    if encoding.lower().replace("-", "") != "utf8":
        data = data.decode("utf-8").encode(encoding)
    path.write_bytes(data)
    return table.num_rows


def write_parquet(table: pa.Table, path: Path) -> int:
    """Write `table` as Parquet without pandas metadata; returns the number of rows."""
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")
    return table.num_rows
