"""Normalisation in DuckDB: Danish letters, double surnames, dates as written abroad, codes."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pytest

from rwd_linkage import prepare


def value(expr: str) -> Any:
    return duckdb.execute(f"select {expr}").fetchall()[0][0]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ågård", "Aagaard"),
        ("Jørgensen", "Joergensen"),
        ("Jörgensen", "JOERGENSEN"),
        ("Bæk", "Baek"),
        ("Hansen-Jensen", "Hansen  Jensen"),
        ("O'Brien", "O Brien"),
        ("Müller", "Mueller"),
        ("Séverine", "Severine"),
    ],
)
def test_fold_makes_spelling_variants_equal(a: str, b: str) -> None:
    assert value(prepare.fold(prepare.literal(a))) == value(prepare.fold(prepare.literal(b)))


def test_fold_and_tokens() -> None:
    folded = prepare.fold(prepare.literal(" Anne-Sofie  Østergaard "))
    assert value(folded) == "anne sofie oestergaard"
    assert value(prepare.tokens(folded)) == ["anne", "sofie", "oestergaard"]
    assert value(prepare.first_token(folded)) == "anne"
    assert value(prepare.fold("'  - '")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03-12-1951", date(1951, 12, 3)),
        ("1951-12-03", date(1951, 12, 3)),
        ("03.12.1951", date(1951, 12, 3)),
        ("19511203", date(1951, 12, 3)),
        ("12-25-1970", date(1970, 12, 25)),  # a swap that made day-first impossible
        ("31-02-1970", None),
        ("", None),
    ],
)
def test_dates_as_written(text: str, expected: date | None) -> None:
    columns = prepare.date_columns("dob", prepare.literal(text))
    assert value(columns["dob"]) == expected


def test_date_parts_and_swap() -> None:
    columns = prepare.date_columns("dob", "'03-12-1951'")
    assert (value(columns["dob__y"]), value(columns["dob__m"]), value(columns["dob__d"])) == (
        1951,
        12,
        3,
    )
    assert value(columns["dob__digits"]) == "19511203"
    assert value(columns["dob__swapped"]) == date(1951, 3, 12)
    assert value(prepare.date_columns("dob", "'20-12-1951'")["dob__swapped"]) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1", "1"),
        ("M", "1"),
        ("mand", "1"),
        ("2", "2"),
        ("F", "2"),
        ("K", "2"),
        ("kvinna", "2"),
        ("x", None),
    ],
)
def test_sex_codes(code: str, expected: str | None) -> None:
    assert value(prepare.sex_column(prepare.literal(code))) == expected


def test_codes() -> None:
    assert value(prepare.code_column("'0851'", strip_zeros=True)) == "851"
    assert value(prepare.code_column("' 0800 '")) == "0800"
    assert value(prepare.code_column("'sw1a 1aa'")) == "SW1A1AA"
