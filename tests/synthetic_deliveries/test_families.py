"""Synthetic families: parent links in the CPR delivery, FH inherited from carriers,
carriers' LDL in the laboratory delivery, the answer key - and all of it deterministic and
the same in every month of one world."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from medfollow_core.cpr import normalise_cpr
from synthetic_deliveries import generate, generate_rounds
from synthetic_deliveries.danish_csv import NEVER
from synthetic_deliveries.families import (
    FH_VARIANT_KEY,
    PARENTS_FROM,
    Families,
    build_families,
    fh_care,
)
from synthetic_deliveries.population import YEAR, Population, build_population
from synthetic_deliveries.rng import stream

CUTOFF = date(2026, 9, 30)


World = tuple[Population, Families]


@pytest.fixture(scope="module")
def world() -> World:
    pop = build_population(stream(5, "population"), 40_000, CUTOFF)
    return pop, build_families(pop)


def test_parents_are_older_and_of_the_right_sex(world: World) -> None:
    pop, fam = world
    # Mothers 18-45 years older; fathers born 6 years before to 2 years after the mother.
    for parent, female, (youngest, oldest) in (
        (fam.mother, True, (18, 45)),
        (fam.father, False, (16, 51)),
    ):
        child = np.flatnonzero(parent >= 0)
        assert len(child) > pop.n // 4
        gap = (pop.birth[child] - pop.birth[parent[child]]) / YEAR
        assert youngest - 0.01 <= gap.min() and gap.max() <= oldest + 0.01
        assert (~pop.karyotype_xy[parent[child]] == female).all()
        # Only persons born in Denmark from 1960 on have registered parents.
        assert (pop.birth[child] >= PARENTS_FROM).all()
        assert (pop.in_day[child] == NEVER).all()
    # Children of one mother share her partner: full siblings exist.
    both = (fam.mother >= 0) & (fam.father >= 0)
    pairs = {(m, f) for m, f in zip(fam.mother[both], fam.father[both], strict=True)}
    assert len(pairs) < both.sum()


def test_carriers_pass_the_variant_to_about_half_their_children(world: World) -> None:
    _pop, fam = world
    founders = (fam.mother < 0) & (fam.father < 0)
    assert 1 / 400 < fam.carrier[founders].mean() < 1 / 150
    children = np.flatnonzero(
        ((fam.mother >= 0) & fam.carrier[np.maximum(fam.mother, 0)])
        | ((fam.father >= 0) & fam.carrier[np.maximum(fam.father, 0)])
    )
    assert len(children) > 60
    share = fam.carrier[children].mean()
    assert 0.38 < share < 0.62
    # A child of two non-carriers carries only by a new allele: almost never.
    known = (fam.mother >= 0) & (fam.father >= 0)
    clean = (
        known & ~fam.carrier[np.maximum(fam.mother, 0)] & ~fam.carrier[np.maximum(fam.father, 0)]
    )
    assert fam.carrier[clean].mean() < 0.01


def test_carriers_ldl_starts_untreated_and_high(world: World) -> None:
    pop, fam = world
    care = fh_care(pop, fam)
    assert fam.carrier[care.ldl_person].all()
    first = np.r_[True, care.ldl_person[1:] != care.ldl_person[:-1]]
    assert (care.ldl_value[first] >= 6.5).all()
    adult = (care.ldl_day - pop.birth[care.ldl_person]) / YEAR >= 18
    assert adult.all() and (care.ldl_day <= pop.cutoff).all()
    treated = care.treated_from != NEVER
    assert treated.any() and fam.carrier[treated].all()


def test_families_are_deterministic_and_seeded(world: World) -> None:
    _pop, fam = world
    again = build_families(build_population(stream(5, "population"), 40_000, CUTOFF))
    assert np.array_equal(fam.mother, again.mother)
    assert np.array_equal(fam.father, again.father)
    assert np.array_equal(fam.carrier, again.carrier)
    other = build_families(build_population(stream(6, "population"), 40_000, CUTOFF))
    assert not np.array_equal(fam.mother, other.mother)


def _persons(landing: Path) -> list[dict[str, str]]:
    (path,) = landing.glob("cpr/*/cpr_persons.csv")
    with path.open(encoding="latin-1", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_cpr_delivery_and_answer_key_agree(tmp_path: Path) -> None:
    run = generate(tmp_path / "a", persons=3000, seed=1, cutoff=CUTOFF)
    persons = _persons(run.out / "landing")
    truth = pq.read_table(run.ground_truth / "fh_carriers.parquet").to_pylist()
    spine = pq.read_table(run.ground_truth / "persons.parquet").to_pylist()
    cpr_of = {p["person_id"]: p["cpr"] for p in spine}
    by_cpr = {normalise_cpr(p["cpr"]): p for p in persons}
    linked = 0
    for t in truth:
        row = by_cpr[cpr_of[t["person_id"]]]
        for column, parent in (("mor_cpr", t["mother_id"]), ("far_cpr", t["father_id"])):
            if parent is None:
                assert row[column] == ""
            else:
                assert normalise_cpr(row[column]) == cpr_of[parent]
                linked += 1
        assert (t["variant_key"] == FH_VARIANT_KEY) == t["carrier"]
        assert (t["ldl_measured"] is not None) == t["carrier"]
    assert linked > 1000
    assert any(t["carrier"] and t["ldl_measured"] for t in truth)

    again = generate(tmp_path / "b", persons=3000, seed=1, cutoff=CUTOFF)
    for name in ("cpr/*/cpr_persons.csv", "lab/*/lab.csv", "lmdb/*/lmdb.parquet"):
        (first,) = (run.out / "landing").glob(name)
        (second,) = (again.out / "landing").glob(name)
        assert first.read_bytes() == second.read_bytes()
    assert (run.ground_truth / "fh_carriers.parquet").read_bytes() == (
        again.ground_truth / "fh_carriers.parquet"
    ).read_bytes()


def test_every_month_of_a_world_has_the_same_families(tmp_path: Path) -> None:
    months = generate_rounds(
        tmp_path, persons=1500, seed=3, cutoffs=[date(2026, 7, 31), date(2026, 8, 31)]
    )
    first, last = (
        {
            t["person_id"]: t
            for t in pq.read_table(m.ground_truth / "fh_carriers.parquet").to_pylist()
        }
        for m in months
    )
    assert set(first) <= set(last)
    for pid, t in first.items():
        later = last[pid]
        assert (t["mother_id"], t["father_id"], t["carrier"]) == (
            later["mother_id"],
            later["father_id"],
            later["carrier"],
        )
        if t["ldl_measured"]:
            assert later["ldl_measured"]
