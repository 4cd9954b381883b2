"""Typing and row checks by contract, including the CPR rules from the domain brief."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from medfollow_core.cpr import validate_cpr_column
from medfollow_core.landing.contracts import contract_for
from registry_ingest.convert import convert_batch
from support.deliveries import make_cpr


@pytest.mark.parametrize(
    "birth",
    [
        date(1901, 1, 1),
        date(1999, 12, 31),
        date(2000, 2, 29),
        date(2036, 6, 1),
        date(2050, 6, 1),
        date(1860, 3, 3),
    ],
)
def test_century_rules_accept_real_birth_dates(birth: date) -> None:
    _, reasons, _ = validate_cpr_column(pa.array([make_cpr(birth, 7)]))
    assert reasons[0].as_py() is None


@pytest.mark.parametrize(
    ("seventh_digit", "born_in"),
    [(0, 1900), (3, 1900), (4, 2000), (5, 2000), (8, 2000), (9, 2000)],
)
def test_the_seventh_digit_decides_whether_29_february_00_exists(
    seventh_digit: int, born_in: int
) -> None:
    """29.02.00 is a real date only in 2000 (1900 was no leap year), so the century rule
    decides between acceptance and rejection here."""
    number = f"290200{seventh_digit}" + "123"
    clean, reasons, _ = validate_cpr_column(pa.array([number]))
    if born_in == 2000:
        assert reasons[0].as_py() is None and clean[0].as_py() == number
    else:
        assert reasons[0].as_py() == "cpr: impossible birth date" and clean[0].as_py() is None


def test_cpr_shapes_and_impossible_dates_are_rejected_without_echoing_the_number() -> None:
    good = make_cpr(date(1990, 1, 1), 1)
    values = pa.array(
        [good, good[:6] + "-" + good[6:], "31029" + good[5:], good[:9], "12345abcde", None]
    )
    clean, reasons, _ = validate_cpr_column(values)
    assert clean.to_pylist()[:2] == [good, good]
    assert reasons.to_pylist() == [
        None,
        None,
        "cpr: impossible birth date",
        "cpr: wrong length or not digits",
        "cpr: wrong length or not digits",
        None,
    ]
    assert not any(good[:6] in (r or "") for r in reasons.to_pylist())


def test_modulus_11_failure_is_a_warning_not_a_rejection() -> None:
    failing = make_cpr(date(2012, 4, 5), 3, mod11=False)
    clean, reasons, warnings = validate_cpr_column(pa.array([failing]))
    assert clean[0].as_py() == failing
    assert reasons[0].as_py() is None
    assert warnings == 1


def test_dates_are_strict_and_accept_both_registry_formats() -> None:
    table = contract_for("lab").table("resultater")
    cpr = make_cpr(date(1970, 5, 5), 2)
    batch = pa.record_batch(
        {
            "cpr": [cpr] * 4,
            "proevetid": ["01-02-2024 10:30", "2024-02-31 10:00", "1999-12-31", "31-13-2020"],
            "npu_kode": ["NPU01566"] * 4,
            "vaerdi": ["<0,5"] * 4,
            "ref_nedre": ["0,5", None, None, "1"],
        }
    )
    converted = convert_batch(batch, table)
    assert converted.columns["proevetid"].to_pylist()[0] == datetime(2024, 2, 1, 10, 30)
    assert converted.columns["proevetid"].to_pylist()[2] == datetime(1999, 12, 31)
    assert converted.reasons.to_pylist() == [
        None,
        "proevetid: invalid timestamp",
        None,
        "proevetid: invalid timestamp",
    ]
    assert converted.columns["ref_nedre"][0].as_py() == 0.5


def test_numbers_and_booleans() -> None:
    table = contract_for("outcomes").table("vurderinger")
    cpr = make_cpr(date(1960, 1, 1), 4)
    batch = pa.record_batch(
        {
            "cpr": [cpr] * 3,
            "vurderingsdato": ["2024-01-01"] * 3,
            "tidspunkt": ["90", "91", "x"],
            "crs_grad": ["2", "5", None],
            "intensiv": ["ja", "Nej", "maybe"],
            "faktor_ix_aktivitet": ["35,5", "", "1,2"],
        }
    )
    converted = convert_batch(batch, table)
    assert converted.reasons.to_pylist() == [None, None, "tidspunkt: not a number"]
    assert converted.columns["intensiv"].to_pylist() == [True, False, None]
    assert converted.columns["faktor_ix_aktivitet"].to_pylist() == [35.5, None, 1.2]


def test_contract_docs_are_generated_from_the_contracts() -> None:
    from medfollow_core import config
    from registry_ingest.contract_docs import render_markdown

    committed = (config.PROJECT_ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), "run: medfollow sources --markdown > docs/contracts.md"


def test_dates_and_timestamps_must_be_written_in_full() -> None:
    """Only the first ten characters used to count: ``12-05-20211`` became 2021-05-12."""
    table = contract_for("outcomes").table("vurderinger")
    written = ["12-05-2021", "12-05-20211", "2021-05-12 ", "2021-05-12x", "2021-05-12 10:00"]
    batch = pa.record_batch({"vurderingsdato": written, "tidspunkt": ["90"] * len(written)})
    converted = convert_batch(batch, table)
    assert converted.columns["vurderingsdato"].to_pylist() == [
        date(2021, 5, 12),
        None,
        date(2021, 5, 12),  # surrounding blanks are no characters of the date
        None,
        None,  # a time of day is no part of a date
    ]
    lab = contract_for("lab").table("resultater")
    stamps = ["01-02-2024 10:30", "01-02-2024 10:301", "01-02-20241 10:30", "2024-02-01T10:30:05"]
    typed = convert_batch(pa.record_batch({"proevetid": stamps}), lab).columns["proevetid"]
    assert typed.to_pylist() == [
        datetime(2024, 2, 1, 10, 30),
        None,
        None,
        datetime(2024, 2, 1, 10, 30, 5),
    ]


def test_non_finite_and_out_of_range_numbers_are_row_errors() -> None:
    table = contract_for("outcomes").table("vurderinger")
    values = ["1e999", "-1e999", "35,5", "-0,1", "1000,1", "1e3"]
    batch = pa.record_batch(
        {
            "vurderingsdato": ["2024-01-01"] * len(values),
            "tidspunkt": ["90"] * len(values),
            "faktor_ix_aktivitet": values,
        }
    )
    assert convert_batch(batch, table).reasons.to_pylist() == [
        "faktor_ix_aktivitet: not a finite number",
        "faktor_ix_aktivitet: not a finite number",
        None,
        "faktor_ix_aktivitet: below the minimum 0",
        "faktor_ix_aktivitet: above the maximum 1000",
        None,
    ]


def test_blank_text_is_missing_after_stripping() -> None:
    table = contract_for("lab").table("resultater")
    batch = pa.record_batch({"npu_kode": ["  NPU01566 ", "   ", "\t", None]})
    typed = convert_batch(batch, table).columns["npu_kode"]
    assert typed.to_pylist() == ["NPU01566", None, None, None]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["NPU01566", "NPU02902"], ["NPU01566", "NPU02902"]),  # nothing to trim: no copy made
        (["NPU01566\u00a0", "\u2003NPU02902"], ["NPU01566", "NPU02902"]),  # Unicode spaces
        (["NPU01566\r", "x"], ["NPU01566", "x"]),
        (["æble ", "ø"], ["æble", "ø"]),
    ],
)
def test_every_kind_of_surrounding_whitespace_is_stripped(
    values: list[str], expected: list[str]
) -> None:
    table = contract_for("lab").table("resultater")
    padded = pa.array(["  pad  ", *values])
    for batch in (
        pa.record_batch({"npu_kode": values}),
        pa.record_batch({"npu_kode": padded.slice(1)}),  # its buffer still holds the padding
    ):
        assert convert_batch(batch, table).columns["npu_kode"].to_pylist() == expected


def test_text_holding_a_nul_character_is_a_row_error_not_a_failed_copy() -> None:
    """PostgreSQL text cannot hold NUL: a Parquet value with one is refused row by row,
    named by column, and the value never reaches COPY."""
    table = contract_for("lab").table("resultater")
    batch = pa.record_batch({"npu_kode": ["NPU01566", "NPU\x0002902", None, "\x00"]})
    converted = convert_batch(batch, table)
    assert converted.columns["npu_kode"].to_pylist() == ["NPU01566", None, None, None]
    assert converted.reasons.to_pylist() == [
        None,
        "npu_kode: holds a NUL character",
        None,
        "npu_kode: holds a NUL character",
    ]


def test_typed_extract_values_never_raise() -> None:
    """Parquet and SAS columns arrive typed; values no contract type can hold are row errors
    (an overflowing integer, an infinite or fractional float for an int, a time of day in a
    date column), never an Arrow exception half-way through a load."""
    table = contract_for("outcomes").table("vurderinger")
    batch = pa.record_batch(
        {
            "vurderingsdato": pa.array(
                [0, 86_400 * 10**9 + 1, 2 * 86_400 * 10**9], pa.timestamp("ns")
            ),
            "tidspunkt": pa.array([90.0, float("inf"), 90.5]),
            "crs_grad": pa.array([1, 2**64 - 1, 2], pa.uint64()),
            "faktor_ix_aktivitet": pa.array([float("nan"), 1.0, float("inf")]),
        }
    )
    converted = convert_batch(batch, table)
    assert converted.columns["vurderingsdato"].to_pylist() == [
        date(1970, 1, 1),
        None,
        date(1970, 1, 3),
    ]
    assert converted.columns["crs_grad"].to_pylist() == [1, None, 2]
    assert converted.reasons.to_pylist() == [
        "faktor_ix_aktivitet: not a finite number",
        "vurderingsdato: invalid date",
        "tidspunkt: not a number",
    ]


def test_a_contract_range_must_be_one_the_checks_apply() -> None:
    from medfollow_core.landing.contracts import _column

    assert _column({"name": "dosis", "type": "float", "min": 0}).min == "0"
    for bad in (
        {"name": "x", "type": "float", "max": "a lot"},
        {"name": "x", "type": "text", "min": 0},
        {"name": "x", "type": "date", "max": "2030-01-01"},
    ):
        with pytest.raises(ValueError):
            _column(bad)
