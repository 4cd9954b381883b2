"""CPR number rules, defined once: shape, century, birth date, modulus-11, sex, validation.

Every rule has one definition here, vectorised over numpy arrays; the scalar functions the
generator and tests use call the same code on one value, and the Arrow column check that
ingest runs on millions of rows calls it on whole columns. Messages never contain the number
being checked: a CPR is an identifier and must not leak into logs or exceptions.

The rules (domain brief): 10 digits DDMMYYSSSS, optionally with a hyphen after the sixth; a
real birth date whose century comes from the seventh digit with YY (0-3: 1900s; 4 or 9:
2000s if YY <= 36, else 1900s; 5-8: 2000s if YY <= 57, else 1800s); modulus-11 (weights
4,3,2,7,6,5,4,3,2,1) only as a warning, since it fails for numbers issued since 2007; an odd
last digit is a man.

The examples assemble numbers from date and serial parts: the repository holds no CPR
numbers, not even synthetic ones.

>>> validate_cpr("070761" + "4285").ok
True
>>> validate_cpr("070761" + "-" + "4285").birth_date
datetime.date(1961, 7, 7)
>>> validate_cpr("310261" + "4285").reason
'impossible date'
>>> check = validate_cpr("010110" + "4002")   # born 2010, issued without a valid check digit
>>> (check.ok, check.mod11_warning)
(True, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.types import where_else_null

MOD11_WEIGHTS: tuple[int, ...] = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
"""Weights of the modulus-11 control; a conforming number's weighted digit sum is 0 mod 11."""

_DELIVERED = r"^(\d{6})-(\d{4})$"
"""The two spellings a delivery's CPR column may use: ten digits, or a hyphen after DDMMYY."""


@dataclass(frozen=True)
class CprCheck:
    """The outcome of `validate_cpr`.

    `ok` is False only for numbers that cannot be a CPR (wrong length, non-digits,
    impossible date). A failed modulus-11 control is *not* a rejection: numbers issued
    since 2007 need not satisfy it, so it is reported as `mod11_warning` instead.
    """

    ok: bool
    reason: str | None = None
    mod11_warning: bool = False
    birth_date: date | None = None


# --- the rules, vectorised ------------------------------------------------------------------


def centuries(yy: np.ndarray, seventh_digit: np.ndarray) -> np.ndarray:
    """The century (1800, 1900 or 2000) of each birth year from its YY and 7th CPR digit."""
    yy = np.asarray(yy)
    seventh_digit = np.asarray(seventh_digit)
    return np.where(
        seventh_digit <= 3,
        1900,
        np.where(
            np.isin(seventh_digit, (4, 9)),
            np.where(yy <= 36, 2000, 1900),
            np.where(yy <= 57, 2000, 1800),
        ),
    )


def seventh_digit_options(years: np.ndarray) -> np.ndarray:
    """Which seventh digits (columns 0-9) encode each birth year, with its YY: the inverse of
    `centuries`, for issuing numbers. A row is all False for a year no CPR can encode."""
    years = np.asarray(years)
    yy = years % 100
    digits = np.arange(10)
    return centuries(yy[:, None], digits[None, :]) + yy[:, None] == years[:, None]


def real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each (year, month, day) is a date on the Gregorian calendar."""
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    days = days + ((month == 2) & leap)
    return month_ok & (day >= 1) & (day <= days)


def _parts(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of the birth dates encoded in rows of ten digits."""
    day = digits[:, 0] * 10 + digits[:, 1]
    month = digits[:, 2] * 10 + digits[:, 3]
    yy = digits[:, 4] * 10 + digits[:, 5]
    return centuries(yy, digits[:, 6]) + yy, month, day


def _mod11_passes(digits: np.ndarray) -> np.ndarray:
    return (digits @ np.array(MOD11_WEIGHTS)) % 11 == 0


def _digits(cpr10: str) -> np.ndarray:
    return np.array([[int(d) for d in cpr10]], dtype=np.int64)


# --- one value ------------------------------------------------------------------------------


def normalise_cpr(value: str) -> str | None:
    """The 10-digit form of `value` (whitespace and the hyphen after DDMMYY removed).

    Returns None when the value does not have the shape of a CPR number.

    >>> stem, serial = "0102" + "03", "04" + "05"
    >>> normalise_cpr(f" {stem}-{serial} ") == stem + serial
    True
    >>> normalise_cpr(f"{stem[:4]}-{stem[4:]}{serial}") is None
    True
    """
    text = re.sub(_DELIVERED, r"\1\2", value.strip())
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return None
    return text


def century(yy: int, seventh_digit: int) -> int | None:
    """The century of one birth year (see `centuries`); None for digits out of range.

    >>> century(61, 2), century(10, 4), century(61, 4), century(10, 6), century(90, 7)
    (1900, 2000, 1900, 2000, 1800)
    """
    if not (0 <= yy <= 99 and 0 <= seventh_digit <= 9):
        return None
    return int(centuries(np.array([yy]), np.array([seventh_digit]))[0])


def birth_date_of(cpr10: str) -> date | None:
    """The birth date encoded in a normalised CPR, or None if the date is impossible."""
    year, month, day = _parts(_digits(cpr10))
    if not real_dates(year, month, day)[0]:
        return None
    return date(int(year[0]), int(month[0]), int(day[0]))


def mod11_ok(cpr10: str) -> bool:
    """True when the weighted digit sum of a normalised CPR is divisible by 11.

    >>> mod11_ok("070761" + "4285"), mod11_ok("070761" + "4286")
    (True, False)
    """
    return bool(_mod11_passes(_digits(cpr10))[0])


def sex_of(cpr10: str) -> int:
    """1 (male) for an odd last digit, 2 (female) for an even one."""
    return 1 if int(cpr10[9]) % 2 == 1 else 2


def validate_cpr(value: str) -> CprCheck:
    """Check one CPR number as delivered (10 digits, optionally `DDMMYY-SSSS`)."""
    cpr10 = normalise_cpr(value)
    if cpr10 is None:
        text = value.strip().replace("-", "")
        reason = "non-digit characters" if len(text) == 10 else "wrong length"
        return CprCheck(ok=False, reason=reason)
    born = birth_date_of(cpr10)
    if born is None:
        return CprCheck(ok=False, reason="impossible date")
    return CprCheck(ok=True, mod11_warning=not mod11_ok(cpr10), birth_date=born)


# --- a column -------------------------------------------------------------------------------


def validate_cpr_column(values: pa.Array) -> tuple[pa.Array, pa.Array, int]:
    """Normalised CPR strings (10 digits), a reason per invalid row, and mod-11 warnings.

    The same rules as `validate_cpr`, on a whole Arrow column at once. Blank values are
    treated as wrong length, as the scalar check does. Never returns or formats the CPR itself in a reason.
    """
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        # a CPR read as a number (SAS, Excel exports) has lost its leading zero
        values = pc.utf8_lpad(pc.cast(pc.cast(values, pa.int64()), pa.string()), 10, "0")
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), None, text)
    text = pc.replace_substring_regex(text, _DELIVERED, r"\1\2")
    shaped = pc.fill_null(pc.match_substring_regex(text, r"^\d{10}$"), False)
    digits = np.zeros((len(text), 10), dtype=np.int64)
    mask = shaped.to_numpy(zero_copy_only=False)
    if mask.any():
        good = pc.filter(text, shaped).to_numpy(zero_copy_only=False).astype("U10")
        digits[mask] = (good.view(np.uint32).reshape(-1, 10) - ord("0")).astype(np.int64)
    real_date = real_dates(*_parts(digits))
    reasons = np.where(
        ~mask,
        "cpr: wrong length or not digits",
        where_else_null(~real_date, "cpr: impossible birth date"),
    )
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    reasons = where_else_null(present, reasons)
    valid = mask & real_date
    clean = pc.if_else(pa.array(valid), text, None)
    return clean, pa.array(reasons, pa.string()), int((valid & ~_mod11_passes(digits)).sum())
