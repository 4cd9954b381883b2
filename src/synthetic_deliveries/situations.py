"""Awkward cases real registries contain, added to a simulated cohort so the demo meets them.

Follow-up definitions break on the unusual patient, not the typical one: a CAR-T re-infusion
two months after the first (one treatment, not two), a single factor IX dose for surgery
(not a return to prophylaxis), a factor IX result on the early side of a milestone window,
a patient who emigrates and comes back (follow-up interrupted, then resumed), a CPR-number
change after a milestone has been settled (records before it carry the old number), a
second CAR-T product after progression on the first (a new treatment and ATMP line 2, not a
re-infusion). Each is given
to a few patients, drawn from a stream of its own so the rest of the cohort is unchanged.
A world delivered over several months (`generate_rounds`) also gets, in each later month,
new residents with rows in their first month, a treated patient whose CPR number changes
just after the previous cut-off, and a few moves and surname changes.
"""

from __future__ import annotations

import numpy as np

from synthetic_deliveries import geography, names
from synthetic_deliveries.catalogue import Indication
from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.cohort_records import CohortRecords
from synthetic_deliveries.danish_csv import NEVER
from synthetic_deliveries.population import YEAR, Population

REINFUSION_SHARE = 0.12
SURGERY_DOSE_SHARE = 0.5
EMIGRATE_AND_RETURN = 2
SECOND_LINE = 1


def add_situations(
    rng: np.random.Generator,
    cohort: list[Treatment],
    pop: Population,
    indications: list[Indication],
) -> None:
    """Give the situations to eligible patients (at least one each when any is eligible)."""
    _reinfusions(rng, cohort)
    _factor_ix_situations(rng, cohort)
    _emigrate_and_return(rng, cohort, pop)
    _cpr_change_after_a_milestone(rng, cohort, pop)
    _second_line_atmp(rng, cohort, indications)


def _pick(rng: np.random.Generator, eligible: list[Treatment], share: float) -> list[Treatment]:
    """A share of the eligible patients, at least one, in cohort order (deterministic)."""
    if not eligible:
        return []
    k = max(1, round(share * len(eligible)))
    chosen = sorted(int(i) for i in rng.choice(len(eligible), size=k, replace=False))
    return [eligible[i] for i in chosen]


def _reinfusions(rng: np.random.Generator, cohort: list[Treatment]) -> None:
    """A second infusion of the same CAR-T product 50-75 days after the first."""
    eligible = [
        tr
        for tr in cohort
        if tr.indication.product.therapy_class == "car_t"
        and not tr.abroad
        and tr.followup_end > tr.treatment_day + 80
    ]
    for tr in _pick(rng, eligible, REINFUSION_SHARE):
        tr.reinfusion_day = tr.treatment_day + int(rng.integers(50, 76))


def _factor_ix_situations(rng: np.random.Generator, cohort: list[Treatment]) -> None:
    """Haemophilia B: one factor IX dose for surgery (no return to prophylaxis), and a
    factor IX result on the early side of the day-365 milestone window."""
    haemophilia = [
        tr
        for tr in cohort
        if tr.indication.response_scale == "factor_ix"
        and not tr.abroad
        and tr.prophylaxis_resumed_day == NEVER
    ]
    for tr in _pick(rng, [t for t in haemophilia if t.followup_end > t.treatment_day + 320], 0.5):
        tr.surgery_dose_day = tr.treatment_day + int(rng.integers(100, 300))
    for tr in _pick(rng, [t for t in haemophilia if t.followup_end > t.treatment_day + 300], 0.5):
        tr.early_result_day = tr.treatment_day + int(rng.integers(280, 300))


def _emigrate_and_return(
    rng: np.random.Generator, cohort: list[Treatment], pop: Population
) -> None:
    """A stay abroad of two to six months, followed by a return and more follow-up."""
    eligible = [
        tr
        for tr in cohort
        if not tr.abroad
        and tr.emigration_day == NEVER
        and tr.death_day == NEVER
        and tr.cutoff - tr.treatment_day > 600
        and int(pop.disappear_day[tr.person]) == NEVER
    ]
    share = EMIGRATE_AND_RETURN / len(eligible) if eligible else 0.0
    for tr in _pick(rng, eligible, share):
        out = tr.treatment_day + int(rng.integers(120, 300))
        tr.absence = (out, out + int(rng.integers(60, 180)))
        pop.set_fate(tr.person, death=NEVER, emigration=out, returned=tr.absence[1])


def _cpr_change_after_a_milestone(
    rng: np.random.Generator, cohort: list[Treatment], pop: Population
) -> None:
    """A CPR-number change (birth-date correction) some 400 days after treatment, once the
    6- and 12-month milestones have settled."""
    changed = set(pop.changed.tolist())
    eligible = [
        tr
        for tr in cohort
        if not tr.abroad
        and tr.person not in changed
        and int(pop.in_day[tr.person]) == NEVER
        and tr.followup_end > tr.treatment_day + 480
    ]
    for tr in _pick(rng, eligible, 1 / len(eligible) if eligible else 0.0):
        tr.cpr_change_day = tr.treatment_day + int(rng.integers(400, 440))
        pop.correct_birth_date(rng, tr.person, tr.cpr_change_day)


def _second_line_atmp(
    rng: np.random.Generator, cohort: list[Treatment], indications: list[Indication]
) -> None:
    """A different CAR-T product for the same indication 40-90 days after progression on
    the first, given in Denmark while the patient is still followed. It is this treatment's
    `second_atmp` (the same person, so the same death, emigration and cut-off), not a cohort
    member of its own: the cohort's other patients and records stay as they were."""
    alternatives = {
        tr.indication: [
            other
            for other in indications
            if other.group == tr.indication.group
            and other.product.code != tr.indication.product.code
            and other.product.therapy_class == "car_t"
            and not other.product.administered_abroad
        ]
        for tr in cohort
    }
    eligible = [
        tr
        for tr in cohort
        if tr.person >= 0
        and tr.indication.product.therapy_class == "car_t"
        and alternatives[tr.indication]
        and not tr.abroad
        and tr.reinfusion_day == NEVER
        and tr.absence is None
        and tr.cpr_change_day == NEVER
        and tr.treatment_day + 60 < tr.progression_day < tr.followup_end - 150
    ]
    share = SECOND_LINE / len(eligible) if eligible else 0.0
    for tr in _pick(rng, eligible, share):
        options = alternatives[tr.indication]
        tr.second_atmp = Treatment(
            person=tr.person,
            birth=tr.birth,
            sex=tr.sex,
            indication=options[int(rng.integers(len(options)))],
            diagnosis_day=tr.diagnosis_day,
            treatment_day=tr.progression_day + int(rng.integers(40, 91)),
            abroad=False,
            centre_region=tr.centre_region,
            hospital=tr.hospital,
            prior_lines=tr.prior_lines + 1,
            death_day=tr.death_day,
            death_causes=tr.death_causes,
            emigration_day=tr.emigration_day,
            cutoff=tr.cutoff,
        )


ARRIVALS_SHARE = 0.001
MIN_ARRIVALS = 3


def add_arrivals(
    rng: np.random.Generator,
    cohort: list[Treatment],
    pop: Population,
    records: CohortRecords,
    window: tuple[int, int],
) -> np.ndarray:
    """A few adults who move to Denmark within `window` (after a previous month's cut-off,
    up to this month's) and at once have a blood test, a prescription and a biobank
    sample: rows of persons the previous month's CPR register does not know, which each
    month's ingest must check against its own register. Returns the arrivals' indices."""
    taken = np.zeros(pop.n, bool)
    taken[[tr.person for tr in cohort if tr.person >= 0]] = True
    taken[pop.changed] = True  # keep CPR changes and treated patients as they are
    age = (pop.cutoff - pop.birth) / YEAR
    settled = (
        (pop.in_day == NEVER)
        & (pop.out_day == NEVER)
        & (pop.death_day == NEVER)
        & (pop.disappear_day == NEVER)
    )
    eligible = np.flatnonzero(settled & ~taken & (age >= 18) & (age < 60))
    k = min(len(eligible), max(MIN_ARRIVALS, round(pop.n * ARRIVALS_SHARE)))
    people = np.sort(rng.choice(eligible, size=k, replace=False))
    after, until = window
    latest = max(after + 1, until - 3)
    for p in people.tolist():
        arrival = int(rng.integers(after + 1, latest + 1))
        pop.in_day[p] = arrival
        pop.in_country[p] = int(rng.integers(0, len(names.COUNTRIES)))

        lab, rx, sample = (int(d) for d in rng.integers(arrival, until + 1, 3))
        records.labs.add(
            person=p,
            day=lab,
            minute=int(rng.integers(450, 960)),
            analysis="neutrophils",
            value=float(rng.lognormal(np.log(3.6), 0.35)),
        )
        records.prescriptions.add(person=p, day=rx, atc="J01CE02")
        records.samples.add(
            person=p, day=sample, minute=int(rng.integers(420, 960)), type="EDTA-fuldblod"
        )
    return people


def reissue_before_assessment(
    rng: np.random.Generator,
    cohort: list[Treatment],
    pop: Population,
    assessed: tuple[np.ndarray, np.ndarray],
    window: tuple[int, int],
) -> None:
    """A treated patient assessed within `window` gets a corrected CPR number on its first
    day, so that month's outcome extract carries a number the previous register lacks.
    `assessed` is (person, day) of every outcome assessment."""
    person, day = assessed
    after, until = window
    changed = set(pop.changed.tolist())
    candidates = sorted(
        {
            int(p)
            for p in person[(day > after) & (day <= until)]
            if int(p) not in changed and pop.in_day[p] == NEVER
        }
    )
    if not candidates:
        return
    chosen = candidates[int(rng.integers(len(candidates)))]
    pop.correct_birth_date(rng, chosen, after + 1)
    for tr in cohort:
        if tr.person == chosen:
            tr.cpr_change_day = after + 1


MOVES_SHARE = 0.002
RENAMES_SHARE = 0.0005


def add_moves_and_renames(
    rng: np.random.Generator, pop: Population, window: tuple[int, int]
) -> None:
    """A few residents move house and a few take a new surname within `window`, so the
    month's CPR snapshot differs from the previous one in more than vital events."""
    after, until = window
    first, last = pop.window()
    settled = np.flatnonzero(
        (first <= after) & (last >= until) & ((pop.cutoff - pop.birth) / YEAR >= 18)
    )
    k = min(len(settled), max(2, round(pop.n * MOVES_SHARE)))
    movers = np.sort(rng.choice(settled, size=k, replace=False))
    muni, region, postnr = geography.draw_residence(rng, k)
    days = rng.integers(after + 1, until + 1, k)
    for i, p in enumerate(movers.tolist()):
        pop.move(p, int(days[i]), (int(muni[i]), int(region[i]), int(postnr[i])))
    k = min(len(settled), max(1, round(pop.n * RENAMES_SHARE)))
    surnames = [s for s, _ in names.SURNAMES]
    for p in np.sort(rng.choice(settled, size=k, replace=False)).tolist():
        current = pop.efternavn[p].as_py()
        new = next(s for s in rng.permutation(surnames).tolist() if s != current)
        pop.rename(p, int(rng.integers(after + 1, until + 1)), new)
