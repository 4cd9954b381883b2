"""CPR rules: normal form, century table, modulus-11 as a warning, never leaking the number."""

from __future__ import annotations

import doctest
from datetime import date

import pytest

from medfollow_core import cpr as cpr_module
from medfollow_core.cpr import century, mod11_ok, normalise_cpr, sex_of, validate_cpr


def _number(stem9: str, *, passes: bool) -> str:
    """Complete a 9-digit stem with a last digit that passes (or fails) modulus-11."""
    for last in "0123456789":
        if mod11_ok(stem9 + last) == passes:
            return stem9 + last
    raise AssertionError("no suitable check digit")


def test_module_doctests() -> None:
    assert doctest.testmod(cpr_module).failed == 0


@pytest.mark.parametrize(
    ("yy", "digit7", "expected"),
    [
        (0, 0, 1900),
        (99, 3, 1900),
        (36, 4, 2000),
        (37, 4, 1900),
        (36, 9, 2000),
        (37, 9, 1900),
        (57, 5, 2000),
        (58, 5, 1800),
        (0, 8, 2000),
        (99, 8, 1800),
    ],
)
def test_century_table(yy: int, digit7: int, expected: int) -> None:
    assert century(yy, digit7) == expected


def test_valid_number_with_hyphen_and_birth_date() -> None:
    number = _number("150384" + "12" + "3", passes=True)
    check = validate_cpr(number[:6] + "-" + number[6:])
    assert check.ok and not check.mod11_warning
    assert check.birth_date == date(1984, 3, 15)
    assert sex_of(number) == (1 if int(number[-1]) % 2 else 2)


def test_mod11_failure_is_a_warning_not_a_rejection() -> None:
    check = validate_cpr(_number("010112" + "40" + "1", passes=False))
    assert check.ok and check.mod11_warning
    assert check.birth_date == date(2012, 1, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12345", "wrong length"),
        ("123456" + "78901", "wrong length"),
        ("01011x" + "1234", "non-digit characters"),
        ("310284" + "1234", "impossible date"),
        ("001384" + "1234", "impossible date"),
    ],
)
def test_rejections_never_echo_the_number(value: str, reason: str) -> None:
    check = validate_cpr(value)
    assert not check.ok and check.reason == reason
    assert value not in (check.reason or "") and value[:6] not in (check.reason or "")


def test_normalise() -> None:
    assert normalise_cpr(" 010203-" + "0405 ") == "010203" + "0405"
    assert normalise_cpr("0102-" + "030405") is None
