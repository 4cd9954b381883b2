"""Find CPR numbers where a contract declares none, before anything is written.

A CPR column is validated and pseudonymised by its contract; but suppliers also put CPR
numbers where they do not belong — in a free-text lab comment, in a code column, under a
swapped header. Every text value and every number of a delivered batch is scanned for
CPR-shaped values in any spelling (``cpr_shape.CPR_SHAPED``: hyphen, space, dots, inside text) whose
digits form a valid CPR number (``cpr.validate_cpr``). The policy:

* a CPR *inside* a longer text is masked (replaced by ``<cpr>``) and the row loads: the rest
  of a free-text value is kept;
* a value that *is* a CPR (a text or a number that is nothing but the number) sends the row
  to quarantine with the reason ``<column>: holds a CPR number``, and the quarantine record
  shows the value as its pseudonym (HMAC, ``pseudonymise``), never the number.

Dates, timestamps and booleans need no scan: their typed values cannot spell a CPR, and a
value that fails to type is null downstream. A cheap regular expression over whole Arrow
columns finds the candidates; only those few values are looked at in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.cpr import validate_cpr
from medfollow_core.cpr_shape import CPR_SHAPED
from medfollow_core.landing.contracts import Table
from medfollow_core.pseudonymise import Pseudonymiser

MASK = "<cpr>"
"""What a CPR inside a text becomes (the marker the message scrubber also uses)."""

_CANDIDATE = r"\d{2}[./ -]?\d{2}[./ -]?\d{2}[ .-]?\d{4}"
"""A superset of `CPR_SHAPED` that Arrow's regex engine (RE2, no look-around) can run."""

_SHORTEST = 10
"""No value shorter than this many bytes can match `_CANDIDATE` (ten ASCII digits at least)."""

_SCANNED = ("text", "int", "float")


@dataclass
class StrayCprs:
    """The batch's typed columns with CPRs masked, a reason per row that held one as a whole
    value (null elsewhere), and the quarantine-record values of non-text columns."""

    columns: dict[str, pa.Array]
    reasons: pa.Array
    in_record: dict[str, pa.Array]


def find_stray_cprs(
    batch: pa.RecordBatch,
    table: Table,
    typed: dict[str, pa.Array],
    pseudonymiser: Pseudonymiser,
) -> StrayCprs:
    """Scan every non-CPR column of ``batch`` (typed columns in ``typed``, by target name)."""
    columns = dict(typed)
    reasons: pa.Array = pa.nulls(batch.num_rows, pa.string())
    in_record: dict[str, pa.Array] = {}
    for col in table.columns:
        if col.type not in _SCANNED or col.name not in batch.schema.names:
            continue
        is_text = col.type == "text"
        values = typed[col.target] if is_text else batch.column(col.name)
        if not _scannable(values.type):
            continue  # a nested column is the reader's to refuse; it holds no scalar text
        hits = _column_hits(values, pseudonymiser, allow_masking=is_text)
        if hits is None:
            continue
        reasons = pc.coalesce(
            reasons, pc.if_else(hits.whole, f"{col.name}: holds a CPR number", None)
        )
        if is_text:
            columns[col.target] = pc.replace_with_mask(values, hits.mask, hits.replacements)
        else:
            # A number cannot carry a pseudonym: null in the typed row, pseudonym in the record.
            columns[col.target] = pc.if_else(hits.mask, None, typed[col.target])
            in_record[col.target] = pc.replace_with_mask(
                pc.cast(typed[col.target], pa.string()), hits.mask, hits.replacements
            )
    return StrayCprs(columns, reasons, in_record)


@dataclass
class _Hits:
    """One column's values holding a CPR: where, which as a whole value, and what replaces
    each (in row order: ``pc.replace_with_mask`` takes them so)."""

    mask: pa.Array
    whole: pa.Array
    replacements: pa.Array


def _column_hits(
    values: pa.Array, pseudonymiser: Pseudonymiser, *, allow_masking: bool
) -> _Hits | None:
    """The column's CPR-holding values, or None: a vectorised pre-filter, then Python on the
    few candidates."""
    text = _as_string(values)
    rows = _candidates(text)
    if len(rows) == 0:
        return None
    found = _scan(pc.take(text, rows).to_pylist(), pseudonymiser, allow_masking=allow_masking)
    if not found:
        return None
    n = len(values)
    return _Hits(
        mask=_mask_of(n, [rows[i].as_py() for i in found]),
        whole=_mask_of(n, [rows[i].as_py() for i, (_, whole) in found.items() if whole]),
        replacements=pa.array([value for value, _ in found.values()], pa.string()),
    )


def _candidates(text: pa.Array) -> pa.Array:
    """Row indices of the values `_CANDIDATE` matches.

    The regular expression runs only on values of at least `_SHORTEST` bytes: a value's
    length is read off Arrow's offsets without touching its text, and codes, short keys and
    small numbers - most of a registry's columns - can never hold a CPR number. On such a
    column the scan costs next to nothing instead of a regex pass over every value.
    """
    long_enough = pc.fill_null(pc.greater_equal(pc.binary_length(text), _SHORTEST), False)
    rows = pc.indices_nonzero(long_enough)
    if len(rows) == 0:
        return rows
    scanned = text if len(rows) == len(text) else pc.take(text, rows)
    hits = pc.fill_null(pc.match_substring_regex(scanned, _CANDIDATE), False)
    return pc.take(rows, pc.indices_nonzero(hits))


def _scan(
    values: list[str | None], pseudonymiser: Pseudonymiser, *, allow_masking: bool
) -> dict[int, tuple[str, bool]]:
    """For each candidate holding a valid CPR: (its replacement, whether it was whole)."""
    found: dict[int, tuple[str, bool]] = {}
    for i, value in enumerate(values):
        if value is None:
            continue
        hits = [m for m in CPR_SHAPED.finditer(value) if _valid(m.group(0))]
        if not hits:
            continue
        if (len(hits) == 1 and hits[0].group(0) == value.strip()) or not allow_masking:
            found[i] = (pseudonymiser.one(_digits(hits[0].group(0))), True)
        else:
            found[i] = (CPR_SHAPED.sub(_masked, value), False)
    return found


def _masked(match: re.Match[str]) -> str:
    return MASK if _valid(match.group(0)) else match.group(0)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _valid(text: str) -> bool:
    return validate_cpr(_digits(text)).ok


def _scannable(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
    )


def _as_string(values: pa.Array) -> pa.Array:
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _mask_of(n: int, rows: list[int]) -> pa.Array:
    """A boolean array of length ``n``, true at ``rows``."""
    flags = np.zeros(n, dtype=bool)
    flags[rows] = True
    return pa.array(flags)
