"""The CPR scrubber: every spelling of a CPR number is masked, pseudonyms and dates are not.

`scrub` stands between third-party error text (CSV parsers, PostgreSQL, Arrow) and every log,
audit row and XCom, so it is tested directly. No CPR number is written in this file: each is
built at run time from a birth date and a serial (`make_cpr`), and so are the long digit runs
(a literal would put a 10-digit run in the repository).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import date

import pytest

from medfollow_core.cpr_shape import CPR_SHAPED
from medfollow_core.errors import MedfollowError, scrub
from support.deliveries import make_cpr

A = make_cpr(date(1961, 7, 7), 42)
B = make_cpr(date(2003, 2, 1), 7, mod11=False)
C = make_cpr(date(1860, 12, 31), 3)
MASK = "<cpr>"


def hyphen(n: str) -> str:
    return f"{n[:6]}-{n[6:]}"


def space(n: str) -> str:
    return f"{n[:6]} {n[6:]}"


def dotted(n: str) -> str:
    """DD.MM.YY-SSSS, as people write it by hand."""
    return f"{n[:2]}.{n[2:4]}.{n[4:6]}-{n[6:]}"


def test_the_numbers_are_built_as_cprs() -> None:
    """Guard: the fixtures really are ten digits with distinct values (else the rest is moot)."""
    assert all(len(n) == 10 and n.isdigit() for n in (A, B, C))
    assert len({A, B, C}) == 3


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda n: n, id="ten-digits"),
        pytest.param(hyphen, id="hyphen-after-sixth"),
        pytest.param(space, id="space-after-sixth"),
        pytest.param(dotted, id="dots-DD.MM.YY-SSSS"),
        pytest.param(lambda n: f"{n[:2]}.{n[2:4]}.{n[4:6]}.{n[6:]}", id="dots-throughout"),
        pytest.param(lambda n: f"{n[:2]}-{n[2:4]}-{n[4:6]}-{n[6:]}", id="hyphens-throughout"),
        pytest.param(lambda n: f"{n[:2]}/{n[2:4]}/{n[4:6]}-{n[6:]}", id="slashes-in-date"),
        pytest.param(lambda n: f"{n[:2]} {n[2:4]} {n[4:6]} {n[6:]}", id="spaces-throughout"),
    ],
)
@pytest.mark.parametrize("number", [A, B, C], ids=["mod11", "no-mod11", "1800s"])
def test_every_spelling_alone_is_masked(spell: Callable[[str], str], number: str) -> None:
    assert scrub(spell(number)) == MASK
    assert CPR_SHAPED.fullmatch(spell(number))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("patient {h} seen", "patient <cpr> seen"),
        ("cpr={n};", "cpr=<cpr>;"),
        ("CPR: {s}.", "CPR: <cpr>."),
        ("born {d}, male", "born <cpr>, male"),
        ("({n})", "(<cpr>)"),
        ("'{n}'", "'<cpr>'"),
        ("{n}\n", "<cpr>\n"),
        ("\t{h}\t", "\t<cpr>\t"),
        ("cprnr{n}x", "cprnr<cpr>x"),
    ],
)
def test_embedded_in_text_is_masked_and_the_text_kept(template: str, expected: str) -> None:
    text = template.format(n=A, h=hyphen(A), s=space(A), d=dotted(A))
    assert scrub(text) == expected


def test_several_numbers_in_one_string_are_all_masked() -> None:
    text = f"{A} and {hyphen(B)}; also {space(C)},{dotted(A)} {B}"
    assert scrub(text) == "<cpr> and <cpr>; also <cpr>,<cpr> <cpr>"


@pytest.mark.parametrize(
    "message",
    [
        # Arrow's CSV reader quotes the offending row
        'CSV parse error: Expected 4 columns, got 5: "{n};1;101;2021-05-12;x"',
        "CSV parse error: Expected 3 columns, got 2: {h};2",
        'In CSV column #0: CSV conversion error to int64: invalid value "{h}"',
        # psycopg/PostgreSQL echo the value and the COPY line
        "duplicate key value violates unique constraint\nDETAIL:  Key (cpr)=({n}) already exists.",
        'COPY persons, line 3, column cpr: "{s}"\nCONTEXT:  COPY persons, line 3: "{n},2,101"',
        'invalid input syntax for type bigint: "{d}"',
        # a quoted CSV row with several persons
        '"{n}";"2";"101"\n"{h}";"1";"147"',
    ],
)
def test_third_party_error_messages_are_masked(message: str) -> None:
    text = message.format(n=A, h=hyphen(B), s=space(C), d=dotted(A))
    # only the numbers go: the rest of the message (dates, codes, line numbers) stays readable
    assert scrub(text) == message.format(n=MASK, h=MASK, s=MASK, d=MASK)


def test_shaped_but_invalid_numbers_are_masked_too() -> None:
    """Deliberately wider than the valid numbers: a mistyped CPR is still personal data."""
    impossible_date = "3102" + A[4:]
    assert scrub(f"value {impossible_date} refused") == "value <cpr> refused"


def _pseudonyms(count: int) -> list[str]:
    key = b"test-only key, " * 2
    return [hmac.new(key, f"person-{i}".encode(), hashlib.sha256).hexdigest() for i in range(count)]


def test_pseudonyms_pass_unchanged_even_with_long_digit_runs() -> None:
    digests = _pseudonyms(400)
    with_runs = [d for d in digests if re.search(r"\d{10}", d)]
    assert len(with_runs) >= 10, "guard: the sample must hold digests with 10-digit runs"
    assert any(re.search(r"(?<!\d)\d{10}(?!\d)", d) for d in with_runs)
    for digest in digests:
        for text in (digest, digest.upper(), f"person_key={digest};", f'"{digest}",{digest}'):
            assert scrub(text) == text
        assert not CPR_SHAPED.fullmatch(digest)


def test_a_pseudonym_next_to_a_cpr_keeps_the_pseudonym() -> None:
    digest = next(d for d in _pseudonyms(400) if re.search(r"\d{10}", d))
    assert scrub(f"{digest} {A}") == f"{digest} <cpr>"


NOT_CPRS = {
    "12-digit-number": "1234" * 3,
    "11-digit-number": "98765" * 2 + "1",
    "cpr-digits-inside-a-longer-number": "row " + "0" + A + " counted",
    "cpr-digits-then-more-digits": A + "77",
    "iso-timestamp": "2021-05-12 10:30:00",
    "iso-timestamp-T-zone": "2021-05-12T10:30:00+02:00",
    "iso-timestamp-micro": "2021-05-12 10:30:00.123456",
    "date-dd-mm-yyyy": "12-05-2021",
    "date-dotted-with-time": "12.05.2021 10:30",
    "two-iso-dates": "between 2021-05-12 and 2022-01-31",
    "delivery-id-and-count": "delivery cpr-202609, cut-off 2026-09-30, 20000 rows",
    "release-id": "release r00001: 40 genomes",
}


# ids name the case: a test id must not print a number built from CPR parts
@pytest.mark.parametrize("text", list(NOT_CPRS.values()), ids=list(NOT_CPRS))
def test_things_that_are_not_cprs_pass_unchanged(text: str) -> None:
    assert scrub(text) == text


def test_medfollow_error_messages_are_scrubbed_on_construction() -> None:
    error = MedfollowError(f"refused: row 3 has cpr {hyphen(A)} and {B}")
    assert str(error) == "refused: row 3 has cpr <cpr> and <cpr>"
    assert error.args == ("refused: row 3 has cpr <cpr> and <cpr>",)


def test_medfollow_error_scrubs_a_number_split_across_lines() -> None:
    """The message is put on one line first, so a CPR broken at a line end is still caught."""
    error = MedfollowError(f"bad row:\n  {A[:6]}\n  {A[6:]}")
    assert str(error) == "bad row: <cpr>"


def test_subclasses_are_scrubbed_too() -> None:
    class Refused(MedfollowError):
        """A subclass that adds nothing, as the packages declare them."""

    assert str(Refused(f"already released for {dotted(B)}")) == "already released for <cpr>"
