"""Type a batch by its contract and find the rows that break it.

Input is a record batch as delivered (strings from CSV, typed columns from Parquet/SAS).
Output is the typed batch plus one reason per row where a value cannot be typed (null when
it can). Everything is vectorised with Arrow compute: a bad value never raises, it becomes a
row-level reason, and the caller quarantines those rows while the rest load. The contract's
rules about typed values (required, allowed codes, date ranges, keys) are Great Expectations'
job (``validate``).

CPR columns are validated here, before pseudonymisation, by the rules of
``medfollow_core.cpr`` (modulus-11 only as a warning).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.cpr import validate_cpr_column
from medfollow_core.landing.contracts import Column, Table

_TRUE = ["ja", "j", "true", "t", "1", "yes", "y"]
_FALSE = ["nej", "n", "false", "f", "0", "no"]


@dataclass
class Converted:
    """A typed batch, the per-row failure reasons, and counts worth reporting."""

    columns: dict[str, pa.Array]
    reasons: pa.Array  # string, null where the row is fine
    mod11_warnings: int = 0


def convert_batch(batch: pa.RecordBatch, table: Table) -> Converted:
    reasons: pa.Array = pa.nulls(batch.num_rows, pa.string())
    out: dict[str, pa.Array] = {}
    mod11 = 0
    for col in table.columns:
        values = (
            batch.column(col.name)
            if col.name in batch.schema.names
            else pa.nulls(batch.num_rows, pa.string())
        )
        typed, bad = _typed(values, col)
        if col.type == "cpr":
            typed, cpr_bad, warnings = validate_cpr_column(values)
            bad = _first(bad, cpr_bad)
            mod11 += warnings
        reasons = _first(reasons, bad)
        out[col.name] = typed
    return Converted(columns=out, reasons=reasons, mod11_warnings=mod11)


def _first(current: pa.Array, new: pa.Array) -> pa.Array:
    """Keep the first reason found for each row."""
    return pc.coalesce(current, pc.cast(new, pa.string()))


def _typed(values: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    """Cast one column; returns (typed values, reason per row or null)."""
    n = len(values)
    none = pa.nulls(n, pa.string())
    if col.type in ("text", "cpr"):
        text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
        return pc.utf8_trim_whitespace(text), none
    if col.type in ("date", "timestamp"):
        typed = _parse_temporal(values, col.type)
        return typed, _unparsed(values, typed, f"{col.name}: invalid {col.type}")
    if col.type == "bool":
        if pa.types.is_boolean(values.type):
            return values, none
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(_as_text(values)))
        typed = pc.if_else(
            pc.is_in(lowered, pa.array(_TRUE)),
            True,
            pc.if_else(pc.is_in(lowered, pa.array(_FALSE)), False, None),
        )
        return typed, _unparsed(values, typed, f"{col.name}: not a yes/no value")
    if col.type in ("int", "float"):
        target = pa.int64() if col.type == "int" else pa.float64()
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            if col.type == "float" or pa.types.is_integer(values.type):
                return pc.cast(values, target), none
            # SAS stores every number as a float: only whole values are integers
            whole = pc.equal(values, pc.floor(values))
            typed = pc.cast(pc.if_else(whole, values, None), target)
            return typed, _unparsed(values, typed, f"{col.name}: not a whole number")
        text = pc.replace_substring(pc.utf8_trim_whitespace(_as_text(values)), ",", ".")
        pattern = (
            r"^-?\d{1,18}$"
            if col.type == "int"
            else r"^-?(\d{1,300}(\.\d*)?|\.\d+)([eE]-?\d{1,3})?$"
        )
        ok = pc.match_substring_regex(text, pattern)
        typed = pc.cast(pc.if_else(ok, text, None), target)
        return typed, _unparsed(values, typed, f"{col.name}: not a number")
    raise ValueError(f"unknown column type {col.type}")


def _as_text(values: pa.Array) -> pa.Array:
    """Text with blanks as null: Parquet and SAS extracts write '' where CSV has nothing."""
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), None, text)


def _parse_temporal(values: pa.Array, kind: str) -> pa.Array:
    """Dates as DD-MM-YYYY or ISO (and an optional time), per value; failures become null."""
    target = pa.date32() if kind == "date" else pa.timestamp("s")
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        return pc.cast(values, target)
    text = pc.utf8_trim_whitespace(_as_text(values))
    iso = pc.match_substring_regex(text, r"^\d{4}-\d{2}-\d{2}")
    # Normalise DD-MM-YYYY[ HH:MM[:SS]] to ISO with a regex, then parse once.
    as_iso = pc.if_else(
        iso,
        text,
        pc.replace_substring_regex(text, r"^(\d{2})-(\d{2})-(\d{4})", r"\3-\2-\1"),
    )
    as_iso = pc.replace_substring(as_iso, "T", " ")
    day = pc.utf8_slice_codeunits(as_iso, 0, 10)
    if kind == "date":
        parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
        return _strict(pc.cast(parsed, pa.date32()), day)
    with_seconds = pc.if_else(
        pc.match_substring_regex(as_iso, r" \d{2}:\d{2}$"),
        pc.binary_join_element_wise(as_iso, ":00", ""),
        as_iso,
    )
    full = pc.if_else(
        pc.match_substring_regex(with_seconds, r"^\d{4}-\d{2}-\d{2}$"),
        pc.binary_join_element_wise(with_seconds, " 00:00:00", ""),
        with_seconds,
    )
    parsed = pc.strptime(full, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    return _strict(parsed, day)


def _strict(parsed: pa.Array, day: pa.Array) -> pa.Array:
    """Arrow's strptime rolls 31-02 over to 03-03; a date must print back as it was written."""
    same = pc.equal(pc.strftime(pc.cast(parsed, pa.timestamp("s")), format="%Y-%m-%d"), day)
    return pc.if_else(pc.fill_null(same, False), parsed, pa.scalar(None, parsed.type))


def _unparsed(original: pa.Array, typed: pa.Array, reason: str) -> pa.Array:
    """A reason where a non-empty value failed to parse."""
    failed = pc.and_(pc.is_valid(_as_text(original)), pc.is_null(typed))
    return pc.if_else(failed, reason, None)
