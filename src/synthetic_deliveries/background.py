"""Background registry activity shared by the source writers.

Registries are mostly about people who are *not* in the treated cohort; this module draws
when ordinary persons show up (Poisson counts over each person's time in Denmark, uniform
days within it) so every source uses the same notion of presence, and what the hospitals
record of familial hypercholesterolaemia (FH): who is diagnosed (SKS DE780) and which
carriers have premature coronary disease (I20-I25). Those follow the carriers of
`families.py` so that LPR3, prescriptions, LDL results and the answer key agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from synthetic_deliveries.danish_csv import NEVER
from synthetic_deliveries.families import HORIZON, Families, FhCare, build_families, fh_care
from synthetic_deliveries.population import LPR3_START, YEAR, Population
from synthetic_deliveries.rng import stream

FH_DIAGNOSIS_CODE = "DE780"
"""SKS code of the FH diagnosis, as the fh_codes seed spells it (fh_diagnosis)."""

# Who of the carriers is diagnosed: only those whose LDL has been measured, a lipid clinic
# diagnosing most of the treated ones; overall about 1 in 4 carriers (0.75 are tested, 0.6
# of those treated: 0.45 * 0.45 + 0.30 * 0.15 = 0.25).
DIAGNOSED_IF_TREATED = 0.45
DIAGNOSED_IF_UNTREATED = 0.15
DIAGNOSIS_DELAY = (30, 365)  # days after the first (high) LDL measurement
# Non-carriers with a DE780 diagnosis (polygenic or secondary hypercholesterolaemia coded as
# FH): a small yearly rate from age 30, so diagnosed persons are mostly but not all carriers.
NONCARRIER_DIAGNOSIS_RATE = 5e-5
NONCARRIER_FROM_AGE = 30.0

# Premature coronary disease in carriers: a share of carriers has its onset between age 30
# and the DLCN age cut-off (men <55, women <60, by CPR sex as the marts read it). LPR3 shows
# the acute contact when the onset falls in its time, else (onset before 2019 or before
# arrival) a chronic ischaemic heart disease follow-up within a year - counted only while
# still under the cut-off age, as the marts would count it.
CAD_SHARE = {1: 0.20, 2: 0.10}
CAD_BEFORE_AGE = {1: 55.0, 2: 60.0}
CAD_FROM_AGE = 30.0
CAD_MARGIN = 3  # days kept clear of the birthday at the cut-off age (whole-year ages)
CAD_ACUTE_CODES = (("DI219", 0.6), ("DI200", 0.4))
"""Acute myocardial infarction, unstable angina (SKS)."""
CAD_FOLLOW_UP_CODE = "DI251"
"""Chronic ischaemic heart disease, atherosclerotic (SKS)."""


@dataclass(frozen=True)
class FhClinical:
    """What the hospitals record of FH as of `pop.cutoff`: each person's DE780 diagnosis
    day (NEVER when undiagnosed; carriers and non-carriers alike) and the carriers'
    premature coronary disease contacts (person index, day, SKS code)."""

    diagnosed_from: np.ndarray  # int64 per person
    cad_person: np.ndarray
    cad_day: np.ndarray
    cad_code: np.ndarray  # object (str)


def draw_events(
    rng: np.random.Generator, pop: Population, rate_per_year: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(person index, day) of events at `rate_per_year` while each person is present."""
    first, last = pop.window()
    span = np.maximum(last.astype(np.int64) - first + 1, 0)
    counts = rng.poisson(np.asarray(rate_per_year) * span / YEAR)
    person = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
    day = first[person] + np.floor(rng.random(len(person)) * span[person]).astype(np.int64)
    return person, day.astype(np.int32)


def age_at_midpoint(pop: Population) -> np.ndarray:
    """Each person's age (years) in the middle of their presence: drives activity rates."""
    first, last = pop.window()
    return np.maximum(0.0, ((first.astype(np.int64) + last) / 2 - pop.birth) / YEAR)


def fh_clinical(
    pop: Population, families: Families | None = None, care: FhCare | None = None
) -> FhClinical:
    """DE780 diagnoses and carriers' premature coronary disease up to `pop.cutoff`.

    A world property like `families.fh_care`: every draw is one per person from streams of
    the world's `family_seed` (never from a source's stream), days are drawn without
    looking at the cut-off and then cut at it, so each month's register and the answer key
    see the same diagnoses up to their cut-off. A carrier can only be diagnosed once their
    LDL has been measured, 1-12 months after the first (untreated, high) measurement; the
    chance depends on whether they are ever treated, judged on the uncut treatment plan so
    that an earlier cut-off does not change it.
    """
    families = families or build_families(pop)
    care = care or fh_care(pop, families)
    n = pop.n
    carrier = families.carrier

    rng = stream(pop.family_seed, "fh_diagnosis")
    u = rng.random(n)
    delay = rng.integers(DIAGNOSIS_DELAY[0], DIAGNOSIS_DELAY[1] + 1, n)
    earliest = np.full(n, NEVER, np.int64)
    np.minimum.at(earliest, care.ldl_person, care.ldl_day.astype(np.int64))
    ever_treated = fh_care(replace(pop, cutoff=HORIZON), families).treated_from != NEVER
    chance = np.where(ever_treated, DIAGNOSED_IF_TREATED, DIAGNOSED_IF_UNTREATED)
    carrier_day = np.where(carrier & (earliest != NEVER) & (u < chance), earliest + delay, NEVER)

    rng = stream(pop.family_seed, "fh_noncarrier_diagnosis")
    wait = rng.exponential(1 / NONCARRIER_DIAGNOSIS_RATE, n)
    start = _start(pop, NONCARRIER_FROM_AGE)
    other_day = np.where(~carrier, start + np.floor(np.minimum(wait, 200.0) * YEAR), NEVER)

    diagnosed = np.where(carrier, carrier_day, other_day).astype(np.int64)
    everyone = np.arange(n, dtype=np.int64)
    keep = (diagnosed <= min(pop.cutoff, HORIZON)) & present_on(pop, everyone, diagnosed)
    diagnosed_from = np.where(keep, diagnosed, NEVER).astype(np.int64)

    rng = stream(pop.family_seed, "fh_premature_cad")
    u = rng.random(n)
    onset_at = rng.random(n)
    follow_up = rng.random(n)
    pick = rng.random(n)
    male = pop.sex == 1
    share = np.where(male, CAD_SHARE[1], CAD_SHARE[2])
    before = np.where(male, CAD_BEFORE_AGE[1], CAD_BEFORE_AGE[2])
    start = _start(pop, CAD_FROM_AGE)
    birth = pop.birth.astype(np.int64)
    end = birth + np.floor(before * YEAR).astype(np.int64) - CAD_MARGIN
    onset = birth + np.floor((CAD_FROM_AGE + onset_at * (before - CAD_FROM_AGE)) * YEAR)
    onset = np.minimum(onset.astype(np.int64), end)
    earlier = onset < start  # onset before LPR3 (or arrival): a follow-up visit shows it
    day = np.where(earlier, start + np.floor(follow_up * YEAR).astype(np.int64), onset)
    acute = np.array([c for c, _ in CAD_ACUTE_CODES], dtype=object)
    bounds = np.cumsum([w for _, w in CAD_ACUTE_CODES])
    which = np.searchsorted(bounds, pick * bounds[-1], side="right")
    code = np.where(earlier, CAD_FOLLOW_UP_CODE, acute[np.minimum(which, len(acute) - 1)])
    chosen = carrier & (u < share) & (day <= end) & (day <= HORIZON)
    keep = chosen & (day <= pop.cutoff) & present_on(pop, everyone, day)
    cad_person = np.flatnonzero(keep)
    return FhClinical(
        diagnosed_from=diagnosed_from,
        cad_person=cad_person,
        cad_day=day[cad_person],
        cad_code=code[cad_person],
    )


def present_on(pop: Population, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each person lived in Denmark on `day` (arrived, alive, traceable, not
    abroad); a day of NEVER is never present."""
    arrived = (pop.birth[person] <= day) & (pop.in_day_or_past()[person] <= day)
    abroad = (day >= pop.out_day[person]) & (day < pop.return_day[person])
    alive = (day < pop.death_day[person]) & (day < pop.disappear_day[person])
    return (day != NEVER) & arrived & alive & ~abroad


def _start(pop: Population, age: float) -> np.ndarray:
    """First day a person can have a hospital record at `age` or older: from LPR3's start,
    their arrival and that birthday, whichever is last (independent of the cut-off)."""
    birthday = pop.birth.astype(np.int64) + int(np.ceil(age * YEAR))
    return np.maximum(np.maximum(birthday, LPR3_START), pop.in_day_or_past()).astype(np.int64)
