"""CPR number rules: normal form, century, modulus-11 and validation.

Pure functions with no I/O, shared by the generator (to issue numbers) and the ingest side
(to check them). Messages never contain the number being checked: a CPR is an identifier
and must not leak into logs or exceptions.

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

from dataclasses import dataclass
from datetime import date

MOD11_WEIGHTS: tuple[int, ...] = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
"""Weights of the modulus-11 control; a conforming number's weighted digit sum is 0 mod 11."""


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


def normalise_cpr(value: str) -> str | None:
    """The 10-digit form of `value` (whitespace and the hyphen after DDMMYY removed).

    Returns None when the value does not have the shape of a CPR number.

    >>> stem, serial = "0102" + "03", "04" + "05"
    >>> normalise_cpr(f" {stem}-{serial} ") == stem + serial
    True
    >>> normalise_cpr(f"{stem[:4]}-{stem[4:]}{serial}") is None
    True
    """
    text = value.strip()
    if len(text) == 11 and text[6] == "-":
        text = text[:6] + text[7:]
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return None
    return text


def century(yy: int, seventh_digit: int) -> int | None:
    """The century (1800, 1900 or 2000) of a birth year from its YY and the 7th CPR digit.

    0-3: 1900s; 4 or 9: 2000s if YY <= 36, else 1900s; 5-8: 2000s if YY <= 57, else 1800s.

    >>> century(61, 2), century(10, 4), century(61, 4), century(10, 6), century(90, 7)
    (1900, 2000, 1900, 2000, 1800)
    """
    if not (0 <= yy <= 99 and 0 <= seventh_digit <= 9):
        return None
    if seventh_digit <= 3:
        return 1900
    if seventh_digit in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def birth_date_of(cpr10: str) -> date | None:
    """The birth date encoded in a normalised CPR, or None if the date is impossible."""
    day, month, yy, seventh = int(cpr10[0:2]), int(cpr10[2:4]), int(cpr10[4:6]), int(cpr10[6])
    base = century(yy, seventh)
    if base is None:
        return None
    try:
        return date(base + yy, month, day)
    except ValueError:
        return None


def mod11_ok(cpr10: str) -> bool:
    """True when the weighted digit sum of a normalised CPR is divisible by 11.

    >>> mod11_ok("070761" + "4285"), mod11_ok("070761" + "4286")
    (True, False)
    """
    return sum(int(d) * w for d, w in zip(cpr10, MOD11_WEIGHTS, strict=True)) % 11 == 0


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
