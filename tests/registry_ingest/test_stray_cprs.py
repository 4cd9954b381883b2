"""The stray-CPR scan finds a CPR number in any value long enough to hold one, whatever
else the column holds: the length pre-filter skips only values that cannot match."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from medfollow_core.landing.contracts import contract_for
from medfollow_core.pseudonymise import Pseudonymiser
from registry_ingest.stray_cprs import MASK, find_stray_cprs
from support.deliveries import make_cpr

KEY = bytes(32)


def scan(values: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    """(diagnosekode as it loads, reason per row) for an LPR3 diagnoses batch."""
    table = contract_for("lpr3").table("diagnoser")
    n = len(values)
    delivered = {
        "dw_ek_kontakt": pa.array(["K1"] * n),
        "diagnosekode": pa.array(values, pa.string()),
        "diagnosetype": pa.array(["A"] * n),
        "senere_afkraeftet": pa.nulls(n, pa.bool_()),
    }
    batch = pa.RecordBatch.from_pydict(delivered)
    typed = {table.column(name).target: values for name, values in delivered.items()}
    found = find_stray_cprs(batch, table, typed, Pseudonymiser(KEY))
    return found.columns["diagnosekode"].to_pylist(), found.reasons.to_pylist()


def test_short_values_beside_cprs_keep_their_rows() -> None:
    """Values shorter than ten bytes are skipped; the hits among the rest land on their own
    rows (the scanned subset is mapped back to row numbers)."""
    cpr = make_cpr(date(1990, 1, 1), 5)
    other = make_cpr(date(1985, 6, 7), 8)
    values = ["A", "DC833", cpr, "K12345678", None, f"ring {other[:6]}-{other[6:]} i dag", "ok"]
    loaded, reasons = scan(values)
    assert loaded == [
        "A",
        "DC833",
        Pseudonymiser(KEY).one(cpr),
        "K12345678",
        None,
        f"ring {MASK} i dag",
        "ok",
    ]
    assert reasons == [None, None, "diagnosekode: holds a CPR number", None, None, None, None]


def test_every_value_long_enough() -> None:
    cpr = make_cpr(date(1972, 12, 24), 3)
    loaded, reasons = scan([f"{cpr[:6]} {cpr[6:]}", "a long code without one"])
    assert loaded == [Pseudonymiser(KEY).one(cpr), "a long code without one"]
    assert reasons == ["diagnosekode: holds a CPR number", None]


def test_nine_digits_are_no_cpr() -> None:
    cpr = make_cpr(date(1990, 1, 1), 5)
    assert scan([cpr[:9], cpr[1:]]) == ([cpr[:9], cpr[1:]], [None, None])
