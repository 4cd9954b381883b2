"""Families and familial hypercholesterolaemia (FH): who is whose parent, who carries a
pathogenic LDLR variant, and how a carrier's LDL cholesterol is measured and treated.

These are properties of the simulated world, not of a delivery month: they are drawn from
streams of their own keyed by the world's `family_seed`, from what no later month changes
(birth, sex, arrival, first residence), so the world and every month's register as of its
cut-off give the same parents, carriers and measurements up to that cut-off. The CPR register holds
parent links for persons born in Denmark from 1960 on, so only they get parents here; a
parent is someone of the population 18-45 (mother) or about as old or a little older than
her (father) living in the same municipality, else the same region. FH is inherited
dominantly: a child of a carrier carries with probability 1/2, a person whose parent is
unknown gets the variant on that side with the population frequency (1 in 500 alleles, so
about 1 in 250 founders carries), which keeps the prevalence near the Danish 1 in 250.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from synthetic_deliveries.danish_csv import NEVER, day_number
from synthetic_deliveries.population import LPR3_START, YEAR, Population
from synthetic_deliveries.rng import stream

FH_VARIANT_KEY = "LDLR_c.1775G>A"
"""The variant_key the genome writer plants for a carrier (genotyped_positions seed)."""

PARENTS_FROM = day_number(date(1960, 1, 1))
"""The CPR register holds parent links for persons born from here on."""

ALLELE_FREQUENCY = 1 / 500
MOTHER_AGE = (18.0, 45.0)
FATHER_OLDER = (-2.0, 6.0)  # father born 2 years after to 6 years before the mother
MOTHER_UNKNOWN = 0.02
FATHER_UNKNOWN = 0.05

# How carriers meet the health service from 2019 on: most have their LDL measured (about
# twice a year once adults), most of those are then treated; the rest stay undiagnosed and
# are what cascade screening is for.
TESTED_SHARE = 0.75
TREATED_SHARE = 0.6
LDL_RATE_PER_YEAR = 2.0
UNTREATED_LDL = (6.9, 9.3)  # mmol/L; measurement noise is within +-5 %
TREATED_FACTOR = (0.45, 0.65)
ADULT = 18.0
HORIZON = day_number(date(2040, 12, 31))  # events are drawn up to here, then cut at the cut-off


@dataclass(frozen=True)
class Families:
    """Per person (index = person_id - 1): mother and father index (-1 unknown), carrier."""

    mother: np.ndarray  # int64
    father: np.ndarray  # int64
    carrier: np.ndarray  # bool


@dataclass(frozen=True)
class FhCare:
    """The LDL measurements (person index, day, mmol/L) of carriers, and each carrier's
    start of lipid-lowering treatment (NEVER when untreated; index = person index)."""

    ldl_person: np.ndarray
    ldl_day: np.ndarray
    ldl_value: np.ndarray
    treated_from: np.ndarray


def build_families(pop: Population) -> Families:
    """Parent links and FH carrier status of every person in `pop` (vectorised)."""
    rng = stream(pop.family_seed, "families")
    n = pop.n
    u_mother = rng.random(n)
    u_partner = rng.random(n)
    mother_unknown = rng.random(n) < MOTHER_UNKNOWN
    father_unknown = rng.random(n) < FATHER_UNKNOWN
    founder = rng.random((2, n)) < ALLELE_FREQUENCY
    transmits = rng.random((2, n)) < 0.5

    female = ~pop.karyotype_xy
    child = (pop.birth >= PARENTS_FROM) & (pop.in_day == NEVER)
    lo = pop.birth - np.round(MOTHER_AGE[1] * YEAR).astype(np.int64)
    hi = pop.birth - np.round(MOTHER_AGE[0] * YEAR).astype(np.int64)
    mother = _pick(pop, np.flatnonzero(female), lo, hi, u_mother)
    mother = np.where(child & ~mother_unknown, mother, -1)
    mother = np.where(_present_at(pop, mother, pop.birth), mother, -1)

    # Each woman has one partner; her children share him (full siblings).
    lo = pop.birth - np.round(FATHER_OLDER[1] * YEAR).astype(np.int64)
    hi = pop.birth - np.round(FATHER_OLDER[0] * YEAR).astype(np.int64)
    partner = _pick(pop, np.flatnonzero(~female), lo, hi, u_partner)
    father = np.where(mother >= 0, partner[np.maximum(mother, 0)], -1)
    father = np.where(father_unknown, -1, father)
    father = np.where(_present_at(pop, father, pop.birth - 280), father, -1)

    carrier = founder[0] | founder[1]
    for _ in range(16):  # parents are at least 18 years older: a few generations at most
        from_mother = np.where(
            mother >= 0, carrier[np.maximum(mother, 0)] & transmits[0], founder[0]
        )
        from_father = np.where(
            father >= 0, carrier[np.maximum(father, 0)] & transmits[1], founder[1]
        )
        updated = from_mother | from_father
        if np.array_equal(updated, carrier):
            break
        carrier = updated
    return Families(mother=mother.astype(np.int64), father=father.astype(np.int64), carrier=carrier)


def _pick(
    pop: Population, pool: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """For each person, a uniformly drawn member of `pool` born in [lo, hi] living in the
    same municipality, else in the same region; -1 when there is none."""
    out = np.full(pop.n, -1, np.int64)
    muni, region = pop.first_residence()
    for area in (muni.astype(np.int64), region.astype(np.int64)):
        span = np.int64(1) << 32
        shift = np.int64(1) << 30  # day numbers may be negative (births before 1970)
        key = area[pool] * span + pop.birth[pool] + shift
        order = np.argsort(key, kind="stable")
        sorted_key, sorted_pool = key[order], pool[order]
        first = np.searchsorted(sorted_key, area * span + lo + shift, side="left")
        last = np.searchsorted(sorted_key, area * span + hi + shift, side="right")
        count = last - first
        chosen = first + np.floor(u * count).astype(np.int64)
        found = (count > 0) & (out < 0)
        out[found] = sorted_pool[chosen[found]]
    return out


def _present_at(pop: Population, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each (known) person lived in Denmark and was alive on `day`."""
    idx = np.maximum(person, 0)
    arrived = (pop.in_day[idx] == NEVER) | (pop.in_day[idx] <= day)
    alive = pop.death_day[idx] > day
    return (person >= 0) & arrived & alive


def fh_care(pop: Population, families: Families) -> FhCare:
    """LDL measurements and treatment of carriers from 2019 up to `pop`'s cut-off.

    A tested carrier's LDL is measured about twice a year while an adult in Denmark; the
    first measurement is always untreated (6.9-9.3 mmol/L, so at least 6.5 however it is
    rounded), treatment (for most) starts 1-3 months after it and lowers later values by
    35-55 %. Events are drawn up to a fixed horizon and then cut at the cut-off, so an
    earlier cut-off of the same world sees exactly the earlier events.
    """
    rng = stream(pop.family_seed, "fh_care")
    n = pop.n
    tested = families.carrier & (rng.random(n) < TESTED_SHARE)
    treated = rng.random(n) < TREATED_SHARE
    baseline = rng.uniform(*UNTREATED_LDL, n)
    delay = rng.integers(30, 91, n)

    adult_from = pop.birth.astype(np.int64) + int(np.ceil(ADULT * YEAR))
    first = np.maximum(np.maximum(adult_from, LPR3_START), pop.in_day_or_past())
    span = np.where(tested, np.maximum(HORIZON - first + 1, 0), 0)
    counts = rng.poisson(LDL_RATE_PER_YEAR * span / YEAR)
    person = np.repeat(np.arange(n, dtype=np.int64), counts)
    day = first[person] + np.floor(rng.random(len(person)) * span[person]).astype(np.int64)
    noise = rng.uniform(0.95, 1.05, len(person))
    factor = rng.uniform(*TREATED_FACTOR, len(person))
    keep = (day <= pop.cutoff) & _in_denmark(pop, person, day)
    person, day, noise, factor = person[keep], day[keep], noise[keep], factor[keep]

    earliest = np.full(n, NEVER, np.int64)
    np.minimum.at(earliest, person, day)
    treated_from = np.where(treated & (earliest != NEVER), earliest + delay, NEVER)
    treated_from = np.where(treated_from <= pop.cutoff, treated_from, NEVER).astype(np.int64)
    is_first = day == earliest[person]
    value = baseline[person] * np.where(is_first, 1.0, noise)
    value = np.where(day >= treated_from[person], value * factor, value)
    order = np.lexsort((day, person))
    return FhCare(
        ldl_person=person[order],
        ldl_day=day[order].astype(np.int32),
        ldl_value=value[order],
        treated_from=treated_from,
    )


def _in_denmark(pop: Population, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each person was alive, traceable and not abroad on `day`."""
    abroad = (day >= pop.out_day[person]) & (day < pop.return_day[person])
    return (day < pop.death_day[person]) & (day < pop.disappear_day[person]) & ~abroad
