"""Familial hypercholesterolaemia case finding end to end on a real PostgreSQL.

The session's synthetic world (FH families with a pathogenic LDLR variant inherited by
some children, high untreated LDL in carriers), ingested, linked and built by dbt once for
the dbt tests (tests/dbt/conftest.py; the FH unit tests run in that build), is checked against
the generator's answer key (`ground_truth/fh_carriers.parquet`) and the opt-out register.

What the demo can promise, and what is asserted: every carrier whose LDL was measured is
found with at least "possible" FH (the generator's first untreated LDL of a carrier is
at least 6.5 mmol/L: 5 points), and every such carrier with a first-degree relative who is
a carrier with LDL measured too is "probable" or "definite" (that relative's LDL is above
the family-history cut-off: 1 point more). A carrier with no relative measured and no
premature coronary disease can truly score only 5 from registries without genotypes.
"""

from __future__ import annotations

from typing import Any

import pytest

from medfollow_core.pseudonymise import Pseudonymiser, load_key
from support.marts import FH_UNIT_TESTS, Warehouse, rows

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fh(marts_warehouse: Warehouse) -> Warehouse:
    """The session's built warehouse (tests/dbt/conftest.py): its world has FH families
    with measured carriers."""
    return marts_warehouse


@pytest.fixture(scope="module")
def keys(fh: Warehouse) -> dict[int, str]:
    """person_id -> person_key (the pseudonym of the current CPR number)."""
    pseudonym = Pseudonymiser(load_key())
    return {p["person_id"]: pseudonym.one(p["cpr"]) for p in fh.truth("persons")}


@pytest.fixture(scope="module")
def optouts(fh: Warehouse) -> set[str]:
    return {
        r["person_key"]
        for r in rows(fh.url, "select person_key from staging.int_genetic_optouts_in_force")
    }


def test_fh_build_and_its_unit_tests_pass(fh: Warehouse) -> None:
    assert fh.build.success, (fh.build.failures(), fh.build.exception)
    assert {n: fh.build.statuses.get(n) for n in FH_UNIT_TESTS} == dict.fromkeys(
        FH_UNIT_TESTS, "pass"
    )
    assert fh.build.statuses["fct_fh_case_finding"] == "success"
    assert fh.build.statuses["fct_fh_cascade"] == "success"


def _first_degree(truth: list[dict[str, Any]]) -> dict[int, set[int]]:
    """person_id -> first-degree relatives (parents, children, full siblings) by the truth."""
    relatives: dict[int, set[int]] = {t["person_id"]: set() for t in truth}
    couples: dict[tuple[int, int], list[int]] = {}
    for t in truth:
        for parent in (t["mother_id"], t["father_id"]):
            if parent is not None:
                relatives[t["person_id"]].add(parent)
                relatives.setdefault(parent, set()).add(t["person_id"])
        if t["mother_id"] is not None and t["father_id"] is not None:
            couples.setdefault((t["mother_id"], t["father_id"]), []).append(t["person_id"])
    for children in couples.values():
        for child in children:
            relatives[child].update(c for c in children if c != child)
    return relatives


def test_every_carrier_with_ldl_measured_is_found(
    fh: Warehouse, keys: dict[int, str], optouts: set[str]
) -> None:
    truth = fh.truth("fh_carriers")
    carriers = {t["person_id"]: t for t in truth if t["carrier"]}
    measured = {pid for pid, t in carriers.items() if t["ldl_measured"]}
    relatives = _first_degree(truth)
    found = {
        r["person_key"]: r
        for r in rows(fh.url, "select * from marts.fct_fh_case_finding where ldl_points > 0")
    }
    expected = [pid for pid in measured if keys[pid] not in optouts]
    assert len(expected) >= 3, "the world must hold carriers with LDL measured"
    with_measured_relative = 0
    for pid in expected:
        row = found.get(keys[pid])
        assert row is not None, f"carrier {pid} with LDL measured is missing"
        assert row["highest_ldl_mmol_l"] >= 6.5
        assert row["ldl_points"] >= 5
        assert row["dlcn_category"] in ("possible", "probable", "definite")
        if relatives[pid] & measured:
            with_measured_relative += 1
            assert row["family_history_points"] >= 1
            assert row["dlcn_category"] in ("probable", "definite"), pid
    assert with_measured_relative >= 1, "no family with two measured carriers to check"


def test_the_summary_counts_cases_against_the_truth(fh: Warehouse, keys: dict[int, str]) -> None:
    """Probable/definite cases are mostly carriers: non-carriers reach 6 points only with
    a long-tail LDL and a relative's high LDL or premature coronary disease."""
    carriers = {keys[t["person_id"]] for t in fh.truth("fh_carriers") if t["carrier"]}
    cases = rows(
        fh.url,
        "select person_key from marts.fct_fh_case_finding"
        " where dlcn_category in ('probable', 'definite')",
    )
    assert cases
    true_cases = sum(1 for c in cases if c["person_key"] in carriers)
    assert true_cases / len(cases) >= 0.5


def test_no_row_belongs_to_a_person_with_an_opt_out(fh: Warehouse, optouts: set[str]) -> None:
    assert optouts, "the world must hold opt-outs of genetic data"
    case_keys = {r["person_key"] for r in rows(fh.url, "select * from marts.fct_fh_case_finding")}
    cascade = rows(fh.url, "select * from marts.fct_fh_cascade")
    assert not case_keys & optouts
    assert not {r["person_key"] for r in cascade} & optouts
    assert not {r["index_person_key"] for r in cascade} & optouts
    # The exclusion is what keeps them out: some are scored before it.
    scored = {
        r["person_key"]
        for r in rows(fh.url, "select person_key from staging.int_fh_dlcn_components")
    }
    assert scored & optouts


def test_cascade_lists_unmeasured_relatives_of_cases(fh: Warehouse, keys: dict[int, str]) -> None:
    cascade = rows(fh.url, "select * from marts.fct_fh_cascade")
    assert cascade, "a world with FH families must list relatives to screen"
    measured = {r["person_key"] for r in rows(fh.url, "select person_key from staging.int_fh_ldl")}
    assert not {r["person_key"] for r in cascade} & measured
    cases = {
        r["person_key"]
        for r in rows(
            fh.url,
            "select person_key from marts.fct_fh_case_finding"
            " where dlcn_category in ('probable', 'definite')",
        )
    }
    assert {r["index_person_key"] for r in cascade} <= cases
    # Unmeasured carriers among relatives are the point of cascade screening.
    carriers = {keys[t["person_id"]] for t in fh.truth("fh_carriers") if t["carrier"]}
    assert {r["person_key"] for r in cascade} & carriers
