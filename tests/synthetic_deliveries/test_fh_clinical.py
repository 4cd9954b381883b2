"""What the hospitals record of familial hypercholesterolaemia in the synthetic world: the
DE780 diagnosis follows the carriers (and a few non-carriers), carriers' premature coronary
disease falls before the DLCN age cut-offs, cascade testing sequences carriers - all of it
deterministic and the same at every cut-off of one world."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from medfollow_core.cpr import normalise_cpr
from synthetic_deliveries import generate
from synthetic_deliveries.background import (
    CAD_BEFORE_AGE,
    FH_DIAGNOSIS_CODE,
    FhClinical,
    fh_clinical,
)
from synthetic_deliveries.danish_csv import NEVER, day_number
from synthetic_deliveries.families import Families, FhCare, build_families, fh_care
from synthetic_deliveries.population import Population, build_population
from synthetic_deliveries.rng import stream

CUTOFF = date(2026, 9, 30)
EPOCH = date(1970, 1, 1)

World = tuple[Population, Families, FhCare, FhClinical]


@pytest.fixture(scope="module")
def world() -> World:
    pop = build_population(stream(7, "population"), 100_000, CUTOFF)
    families = build_families(pop)
    care = fh_care(pop, families)
    return pop, families, care, fh_clinical(pop, families, care)


def _whole_years(birth: int, day: int) -> int:
    """Age in completed years, as the marts compute it (Postgres `age()`)."""
    b, d = date.fromordinal(EPOCH.toordinal() + birth), date.fromordinal(EPOCH.toordinal() + day)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def test_diagnosed_persons_are_mostly_carriers_diagnosed_after_their_first_ldl(
    world: World,
) -> None:
    pop, families, care, clinical = world
    diagnosed = clinical.diagnosed_from != NEVER
    carrier = families.carrier
    assert 0.6 <= (diagnosed & carrier).sum() / diagnosed.sum() < 1.0  # a few polygenic
    assert 0.1 <= (diagnosed & carrier).sum() / carrier.sum() <= 0.4
    assert (clinical.diagnosed_from[diagnosed] <= pop.cutoff).all()

    first_ldl = np.full(pop.n, NEVER, np.int64)
    np.minimum.at(first_ldl, care.ldl_person, care.ldl_day.astype(np.int64))
    diagnosed_carrier = np.flatnonzero(diagnosed & carrier)
    assert (first_ldl[diagnosed_carrier] != NEVER).all()
    assert (clinical.diagnosed_from[diagnosed_carrier] >= first_ldl[diagnosed_carrier] + 30).all()
    # Treated carriers are diagnosed more often than the untreated ones.
    treated = carrier & (care.treated_from != NEVER)
    untreated = carrier & (first_ldl != NEVER) & ~treated
    assert (diagnosed & treated).mean() / treated.mean() > (
        diagnosed & untreated
    ).mean() / untreated.mean()


def test_premature_coronary_disease_of_carriers_is_before_the_age_cut_offs(world: World) -> None:
    pop, families, _care, clinical = world
    assert len(clinical.cad_person) >= 10
    assert families.carrier[clinical.cad_person].all()
    assert len(np.unique(clinical.cad_person)) == len(clinical.cad_person)
    assert all(
        str(c)[:4] in {"DI20", "DI21", "DI22", "DI23", "DI24", "DI25"} for c in clinical.cad_code
    )
    assert (clinical.cad_day <= pop.cutoff).all()
    for person, day in zip(clinical.cad_person, clinical.cad_day, strict=True):
        age = _whole_years(int(pop.birth[person]), int(day))
        assert 30 <= age < CAD_BEFORE_AGE[int(pop.sex[person])]
    assert {1, 2} <= set(pop.sex[clinical.cad_person].tolist())


def test_an_earlier_cut_off_of_the_world_sees_the_same_fh_records(world: World) -> None:
    pop, _families, _care, clinical = world
    earlier = day_number(date(2024, 6, 30))
    then = fh_clinical(pop.as_of(earlier))
    before = clinical.diagnosed_from <= earlier
    assert np.array_equal(then.diagnosed_from, np.where(before, clinical.diagnosed_from, NEVER))
    kept = clinical.cad_day <= earlier
    assert np.array_equal(then.cad_person, clinical.cad_person[kept])
    assert np.array_equal(then.cad_day, clinical.cad_day[kept])
    assert then.cad_code.tolist() == clinical.cad_code[kept].tolist()


def test_same_world_same_fh_records(world: World) -> None:
    pop, _families, _care, clinical = world
    again = fh_clinical(build_population(stream(7, "population"), 100_000, CUTOFF))
    assert np.array_equal(again.diagnosed_from, clinical.diagnosed_from)
    assert np.array_equal(again.cad_person, clinical.cad_person)
    other = fh_clinical(build_population(stream(8, "population"), 100_000, CUTOFF))
    assert not np.array_equal(other.diagnosed_from, clinical.diagnosed_from)
    assert pop.n == 100_000


def _lpr3_diagnoses(landing: Path, code: str) -> list[tuple[str, date]]:
    """(normalised CPR, contact start) of every unretracted `code` diagnosis in LPR3."""
    (folder,) = (landing / "lpr3").iterdir()
    with (folder / "kontakter.csv").open(encoding="utf-8") as f:
        contacts = {r["dw_ek_kontakt"]: r for r in csv.DictReader(f, delimiter=";")}
    with (folder / "diagnoser.csv").open(encoding="utf-8") as f:
        rows = [
            r
            for r in csv.DictReader(f, delimiter=";")
            if r["diagnosekode"].startswith(code) and r["senere_afkraeftet"] == "Nej"
        ]
    return [
        (
            normalise_cpr(contacts[r["dw_ek_kontakt"]]["cpr"]),
            date.fromisoformat(contacts[r["dw_ek_kontakt"]]["dato_start"]),
        )
        for r in rows
    ]


def test_a_demo_sized_world_codes_fh_in_lpr3_and_sequences_carriers(tmp_path: Path) -> None:
    result = generate(tmp_path / "a", persons=1500, seed=11, genomes=24)
    truth = result.ground_truth
    persons = pq.read_table(truth / "persons.parquet").to_pylist()
    person_of = {p["cpr"]: p["person_id"] for p in persons}
    for change in pq.read_table(truth / "cpr_changes.parquet").to_pylist():
        person_of[change["old_cpr"]] = change["person_id"]
    fh = {t["person_id"]: t for t in pq.read_table(truth / "fh_carriers.parquet").to_pylist()}

    diagnosed = _lpr3_diagnoses(result.out / "landing", FH_DIAGNOSIS_CODE)
    assert diagnosed, "the demo world has FH diagnoses"
    carriers = [fh[person_of[cpr]]["carrier"] for cpr, _ in diagnosed]
    assert sum(carriers) >= len(carriers) / 2

    genomes = pq.read_table(truth / "genomes.parquet").to_pylist()
    assert len(genomes) == 24
    assert sum(fh[g["person_id"]]["carrier"] for g in genomes) >= 1

    again = generate(tmp_path / "b", persons=1500, seed=11, genomes=24)
    for name in ("lpr3/*/diagnoser.csv", "lpr3/*/kontakter.csv", "biobank/*/*.csv"):
        for first, second in zip(
            sorted((result.out / "landing").glob(name)),
            sorted((again.out / "landing").glob(name)),
            strict=True,
        ):
            assert first.read_bytes() == second.read_bytes()
    assert (truth / "genomes.parquet").read_bytes() == (
        again.ground_truth / "genomes.parquet"
    ).read_bytes()
