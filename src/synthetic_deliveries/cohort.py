"""The treated ATMP cohort: who is treated with what, when, and what happens afterwards.

This module owns the clinical *truth*. Each treated patient is simulated one at a time (the
cohort is small, a per-row loop is fine): index diagnosis, prior lines, the ATMP itself,
CRS/ICANS, ICU, infections, response, progression, death or emigration, subsequent therapy,
factor IX expression or motor development. Registry footprints of that truth are rendered
elsewhere (`cohort_records`, the `outcomes` and `crossborder` sources), so the truth stays
the single place where clinical behaviour is decided.

Clinical behaviour is keyed by the indication's response scale and the product's therapy
class from the seed files, never by product code, so a new seed row is enough to treat
patients with a new product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synthetic_deliveries.catalogue import Indication
from synthetic_deliveries.danish_csv import NEVER
from synthetic_deliveries.population import LPR3_START, YEAR, Population

COHORT_SHARE = 0.015
COHORT_CAP = 5000
CAR_T_ABROAD_SHARE = 0.10

# Worst grade distributions (ASTCT 0-4): CRS ~80 % any / ~10 % >= 3, ICANS ~30 % / ~10 %.
CRS_GRADES = (0.20, 0.45, 0.25, 0.07, 0.03)
ICANS_GRADES = (0.70, 0.12, 0.08, 0.07, 0.03)

# Treating hospital by region of residence (CAR-T and gene therapy are centralised).
CENTRES: dict[int, tuple[int, str]] = {
    1081: (1082, "Aarhus Universitetshospital"),
    1082: (1082, "Aarhus Universitetshospital"),
    1083: (1083, "Odense Universitetshospital"),
    1084: (1084, "Rigshospitalet"),
    1085: (1084, "Rigshospitalet"),
}


@dataclass(frozen=True)
class ScaleProfile:
    """How patients of one response scale behave; oncology scales carry response data."""

    weight: float  # relative cohort size per indication
    age_beta: tuple[float, float]  # shape of age at treatment within the indication range
    gap_days: tuple[int, int]  # index diagnosis -> treatment
    department: str
    specialty: str
    timepoints: tuple[int, ...]
    responses: tuple[tuple[str, float], ...] = ()  # best response, best first
    durable: tuple[float, ...] = ()  # P(never progressing) per best response
    progression_mean_days: float = 0.0
    post_progression_death_mean_days: float = 0.0
    non_relapse_mortality_1y: float = 0.0
    prior_lines: tuple[int, int] = (0, 0)


PROFILES: dict[str, ScaleProfile] = {
    # DLBCL-like: ~50 % CR, 1-year OS ~60 %.
    "lugano": ScaleProfile(
        10,
        (4.0, 2.0),
        (365, 1100),
        "Hæmatologisk Afdeling",
        "Hæmatologi",
        (30, 90, 180, 365, 730),
        (("CR", 0.50), ("PR", 0.20), ("SD", 0.10), ("PD", 0.20)),
        (0.7, 0.15, 0.05, 0.0),
        150,
        240,
        0.05,
        (2, 4),
    ),
    "mrd": ScaleProfile(
        3,
        (1.3, 3.0),
        (180, 730),
        "Hæmatologisk Afdeling",
        "Hæmatologi",
        (30, 90, 180, 365, 730),
        (("MRD-neg", 0.82), ("MRD-pos", 0.18)),
        (0.55, 0.0),
        200,
        200,
        0.06,
        (2, 3),
    ),
    "imwg": ScaleProfile(
        5,
        (4.0, 2.5),
        (730, 1800),
        "Hæmatologisk Afdeling",
        "Hæmatologi",
        (30, 90, 180, 365, 730),
        (("sCR", 0.30), ("CR", 0.15), ("VGPR", 0.25), ("PR", 0.15), ("SD", 0.08), ("PD", 0.07)),
        (0.35, 0.25, 0.1, 0.05, 0.0, 0.0),
        330,
        400,
        0.05,
        (3, 6),
    ),
    "factor_ix": ScaleProfile(
        1, (1.5, 2.0), (180, 1400), "Hæmofilicenter", "Klinisk biokemi", (90, 180, 365, 730)
    ),
    "motor": ScaleProfile(
        0.6, (1.2, 4.0), (14, 90), "Børneafdeling", "Pædiatri", (90, 180, 365, 730)
    ),
    "visual": ScaleProfile(
        0.5, (1.5, 1.5), (90, 1000), "Øjenafdeling", "Oftalmologi", (90, 180, 365, 730)
    ),
}

MOTOR_MILESTONES = (
    "ingen",
    "holder hovedet",
    "sidder uden støtte",
    "står med støtte",
    "går med støtte",
    "går selvstændigt",
)


@dataclass
class Treatment:
    """One treated patient's true course. Days are day numbers; NEVER = did not happen."""

    person: int  # index into the population, -1 for a patient outside the CPR spine
    birth: int
    sex: int
    indication: Indication
    diagnosis_day: int
    treatment_day: int
    abroad: bool
    centre_region: int
    hospital: str
    prior_lines: int = 0
    crs_grade: int | None = None
    crs_onset: int = NEVER
    icans_grade: int | None = None
    icans_onset: int = NEVER
    tocilizumab: bool = False
    steroid: bool = False
    icu_day: int = NEVER
    icu_days: int = 0
    initial_response: str | None = None
    best_response: str | None = None
    progression_day: int = NEVER
    death_day: int = NEVER
    death_causes: tuple[str, ...] = ()
    emigration_day: int = NEVER
    subsequent_therapy_day: int = NEVER
    readmissions: list[tuple[int, str]] = field(default_factory=list)
    ivig_days: list[int] = field(default_factory=list)
    prolonged_cytopenia: bool = False
    b_cell_aplasia: bool = False
    fix_baseline: float = 0.0
    fix_plateau: float = 0.0
    prophylaxis_resumed_day: int = NEVER
    abr_before: float = 0.0
    motor_level: int = 0
    motor_decline_day: int = NEVER
    cutoff: int = NEVER
    # situations (synthetic_deliveries.situations): NEVER / None when not given
    reinfusion_day: int = NEVER
    surgery_dose_day: int = NEVER
    early_result_day: int = NEVER
    absence: tuple[int, int] | None = None  # emigrated on the first day, back on the second
    cpr_change_day: int = NEVER
    # a different ATMP after this one (the patient's second line): the same person and fate
    second_atmp: Treatment | None = None

    @property
    def profile(self) -> ScaleProfile:
        return PROFILES[self.indication.response_scale]

    @property
    def followup_end(self) -> int:
        """Last day of observation: death, emigration or the cut-off."""
        return min(self.death_day, self.emigration_day, self.cutoff)

    def abroad_on(self, day: int) -> bool:
        """True during a stay abroad the patient came back from (no registry coverage)."""
        return self.absence is not None and self.absence[0] <= day < self.absence[1]

    def age_at(self, day: int) -> float:
        return (day - self.birth) / YEAR

    def progressed_by(self, day: int) -> bool:
        return self.progression_day <= day


def cohort_size(persons: int) -> int:
    return min(COHORT_CAP, round(persons * COHORT_SHARE))


def build_cohort(
    rng: np.random.Generator, pop: Population, indications: list[Indication]
) -> list[Treatment]:
    """Choose and simulate the treated patients, and write their fate into `pop`."""
    counts = _allocate(rng, cohort_size(pop.n), indications)
    picker = _PersonPicker(pop)
    cohort: list[Treatment] = []
    for indication, count in zip(indications, counts, strict=True):
        for _ in range(count):
            tr = _draw_patient(rng, pop, picker, indication)
            if tr is None:
                continue
            simulate(rng, tr, pop.cutoff)
            pop.set_fate(tr.person, death=tr.death_day, emigration=tr.emigration_day)
            cohort.append(tr)
    cohort.sort(key=lambda t: (t.treatment_day, t.person))
    return cohort


def _allocate(rng: np.random.Generator, total: int, indications: list[Indication]) -> np.ndarray:
    """Patients per indication: at least one each (when the cohort allows), rest by weight."""
    k = len(indications)
    if total <= 0 or k == 0:
        return np.zeros(k, np.int64)
    base = np.ones(k, np.int64) if total >= k else np.zeros(k, np.int64)
    weights = np.array([PROFILES[i.response_scale].weight for i in indications], float)
    return base + rng.multinomial(total - base.sum(), weights / weights.sum())


class _PersonPicker:
    """Finds an unused spine member born near a target date and present at diagnosis."""

    def __init__(self, pop: Population) -> None:
        self.pop = pop
        self.order = np.argsort(pop.birth, kind="stable")
        self.sorted_birth = pop.birth[self.order]
        self.first, _ = pop.window()
        self.used: set[int] = set()

    def pick(
        self,
        rng: np.random.Generator,
        target_birth: int,
        diagnosis: int,
        treatment: int,
        male_only: bool,
    ) -> int | None:
        pop = self.pop
        for spread in (45, 120, 365, 1000):
            lo = int(np.searchsorted(self.sorted_birth, target_birth - spread))
            hi = int(np.searchsorted(self.sorted_birth, target_birth + spread))
            if hi <= lo:
                continue
            for idx in self.order[rng.integers(lo, hi, size=min(40, hi - lo))]:
                person = int(idx)
                if (
                    person not in self.used
                    and self.first[person] <= diagnosis
                    and pop.birth[person] <= diagnosis
                    and pop.death_day[person] > diagnosis
                    and min(pop.out_day[person], pop.disappear_day[person]) > treatment
                    and (not male_only or pop.sex[person] == 1)
                ):
                    self.used.add(person)
                    return person
        return None


def _draw_patient(
    rng: np.random.Generator, pop: Population, picker: _PersonPicker, ind: Indication
) -> Treatment | None:
    prof = PROFILES[ind.response_scale]
    age = (ind.min_age + (ind.max_age - ind.min_age) * rng.beta(*prof.age_beta)) * YEAR
    age = max(age, 30.0)  # days: nobody is treated in their first month
    gap = int(rng.integers(prof.gap_days[0], prof.gap_days[1] + 1))
    gap = min(gap, int(age) - 7, pop.cutoff - 30 - LPR3_START)
    # Uptake grows over time: treatment dates weighted towards recent years.
    first_t = LPR3_START + gap
    t = int(first_t + (pop.cutoff - 7 - first_t) * np.sqrt(rng.random()))
    diagnosis = t - gap
    person = picker.pick(rng, int(t - age), diagnosis, t, male_only=ind.product.target == "F9")
    if person is None:
        return None
    abroad = ind.product.administered_abroad or (
        ind.product.therapy_class == "car_t" and rng.random() < CAR_T_ABROAD_SHARE
    )
    region, hospital = CENTRES[int(pop.region[person])]
    return Treatment(
        person=person,
        birth=int(pop.birth[person]),
        sex=int(pop.sex[person]),
        indication=ind,
        diagnosis_day=diagnosis,
        treatment_day=t,
        abroad=abroad,
        centre_region=region,
        hospital=hospital,
    )


def simulate(rng: np.random.Generator, tr: Treatment, cutoff: int) -> None:
    """Fill in the course after treatment; nothing is recorded after the cut-off."""
    tr.cutoff = cutoff
    if tr.indication.product.therapy_class == "car_t" and tr.profile.responses:
        _simulate_car_t(rng, tr)
    elif tr.indication.response_scale == "factor_ix":
        _simulate_factor_ix(rng, tr)
    elif tr.indication.response_scale == "motor":
        _simulate_motor(rng, tr)
    else:
        _background_death(rng, tr, rate_per_year=0.003)
    if rng.random() < 0.012:
        tr.emigration_day = tr.treatment_day + int(rng.integers(60, 900))
    _censor(tr, cutoff)


def _simulate_car_t(rng: np.random.Generator, tr: Treatment) -> None:
    prof = tr.profile
    t = tr.treatment_day
    tr.prior_lines = int(rng.integers(prof.prior_lines[0], prof.prior_lines[1] + 1))
    tr.crs_grade = int(rng.choice(5, p=CRS_GRADES))
    if tr.crs_grade:
        tr.crs_onset = t + 1 + min(9, int(rng.poisson(1.8)))
    tr.icans_grade = int(rng.choice(5, p=ICANS_GRADES))
    if tr.icans_grade:
        after = (tr.crs_onset - t) if tr.crs_grade else 2
        tr.icans_onset = t + int(np.clip(after + rng.poisson(2.0), 1, 10))
    tr.tocilizumab = (tr.crs_grade >= 2 and rng.random() < 0.9) or (
        tr.crs_grade == 1 and rng.random() < 0.2
    )
    tr.steroid = (
        (tr.icans_grade >= 2 and rng.random() < 0.9)
        or (tr.crs_grade >= 3 and rng.random() < 0.8)
        or rng.random() < 0.05
    )
    severe = tr.crs_grade >= 3 or tr.icans_grade >= 3
    if rng.random() < (0.8 if severe else 0.04):
        onset = min(d for d in (tr.crs_onset, tr.icans_onset, t + 5) if d != NEVER)
        tr.icu_day = onset + int(rng.integers(0, 3))
        tr.icu_days = int(rng.integers(2, 9))
    tr.prolonged_cytopenia = rng.random() < 0.15
    tr.b_cell_aplasia = rng.random() < 0.7

    labels = [r for r, _ in prof.responses]
    k = int(rng.choice(len(labels), p=[p for _, p in prof.responses]))
    tr.best_response = labels[k]
    slower = k + 1 < len(labels) - 1 and k <= 1 and rng.random() < 0.3
    tr.initial_response = labels[k + 1] if slower else labels[k]
    if k == len(labels) - 1 and tr.indication.response_scale != "mrd":
        tr.progression_day = t + int(rng.integers(20, 45))
    elif rng.random() >= prof.durable[k]:
        tr.progression_day = t + 60 + int(rng.exponential(prof.progression_mean_days))

    death = NEVER
    cause: tuple[str, ...] = ()
    if rng.random() < prof.non_relapse_mortality_1y:
        death = t + int(rng.integers(15, 365))
        cause = (str(rng.choice(["DA419", "DJ189"])), tr.indication.diagnosis_code)
    if tr.progression_day != NEVER:
        after_progression = (
            tr.progression_day + 10 + int(rng.exponential(prof.post_progression_death_mean_days))
        )
        if after_progression < death:
            death, cause = after_progression, (tr.indication.diagnosis_code, "DJ189")
    tr.death_day, tr.death_causes = death, cause

    if tr.progression_day != NEVER and rng.random() < 0.7:
        tr.subsequent_therapy_day = tr.progression_day + int(rng.integers(10, 45))
    for _ in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
        tr.readmissions.append(
            (t + int(rng.integers(15, 90)), str(rng.choice(["DA419", "DJ189", "DB349", "DR509"])))
        )
    if tr.b_cell_aplasia and rng.random() < 0.5:
        start = t + int(rng.integers(45, 120))
        tr.ivig_days = [start + 28 * i for i in range(int(rng.integers(4, 18)))]


def _simulate_factor_ix(rng: np.random.Generator, tr: Treatment) -> None:
    """Etranacogene-like expression: ~35 % activity on average, a few poor responders."""
    tr.fix_baseline = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
    tr.abr_before = float(rng.gamma(3.0, 1.4))
    if rng.random() < 0.06:
        tr.fix_plateau = float(rng.uniform(1.5, 5.0))
        tr.prophylaxis_resumed_day = tr.treatment_day + int(rng.integers(90, 365))
    else:
        tr.fix_plateau = float(np.clip(rng.lognormal(np.log(36.0), 0.4), 8, 120))
    tr.steroid = rng.random() < 0.2  # transaminase rise treated with prednisolone
    _background_death(rng, tr, rate_per_year=0.01)


def _simulate_motor(rng: np.random.Generator, tr: Treatment) -> None:
    """SMA / MLD children: most gain milestones, some stagnate or decline, a few die."""
    tr.motor_level = int(rng.choice(len(MOTOR_MILESTONES), p=(0.05, 0.1, 0.25, 0.2, 0.15, 0.25)))
    tr.steroid = True  # prophylactic prednisolone around gene transfer
    if rng.random() < 0.12:
        tr.motor_decline_day = tr.treatment_day + int(rng.integers(120, 700))
    if rng.random() < 0.06:
        tr.death_day = tr.treatment_day + int(rng.integers(30, 700))
        tr.death_causes = (tr.indication.diagnosis_code, "DJ969")


def _background_death(rng: np.random.Generator, tr: Treatment, rate_per_year: float) -> None:
    day = tr.treatment_day + int(rng.exponential(1 / rate_per_year) * YEAR)
    if day < tr.death_day:
        tr.death_day, tr.death_causes = day, ("DI219",)


def _censor(tr: Treatment, cutoff: int) -> None:
    """Drop what happens after the cut-off, and what happens abroad after emigration."""
    if tr.emigration_day >= min(tr.death_day, cutoff + 1):
        tr.emigration_day = NEVER
    end = min(tr.death_day, tr.emigration_day, cutoff)
    if tr.death_day > min(cutoff, tr.emigration_day):
        tr.death_day, tr.death_causes = NEVER, ()
    for name in (
        "progression_day",
        "subsequent_therapy_day",
        "prophylaxis_resumed_day",
        "motor_decline_day",
        "crs_onset",
        "icans_onset",
        "icu_day",
    ):
        if getattr(tr, name) > end:
            setattr(tr, name, NEVER)
    if tr.icu_day == NEVER:
        tr.icu_days = 0
    tr.readmissions = [(d, c) for d, c in tr.readmissions if d <= end]
    tr.ivig_days = [d for d in tr.ivig_days if d <= end and d < tr.progression_day]
