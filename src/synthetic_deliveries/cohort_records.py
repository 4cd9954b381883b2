"""Registry footprints of the treated cohort's true course.

Turns each `Treatment` into the rows the Danish registries would hold: LPR3 contacts with
diagnoses and procedures, hospital-medicine administrations (prior lines, lymphodepletion,
the ATMP itself, tocilizumab, IVIG, factor IX concentrate), prescriptions, laboratory
results and biobank samples. What happens abroad leaves no Danish footprint: a patient
treated at a Nordic centre has no ATMP administration or treatment admission here, only the
work-up before and the follow-up after returning home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthetic_deliveries import codes
from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.danish_csv import NEVER
from synthetic_deliveries.population import Population

DAY = 1440


class Columns:
    """A small column-oriented row accumulator (cohort rows are few, lists are fine)."""

    def __init__(self, *names: str) -> None:
        self.data: dict[str, list[Any]] = {name: [] for name in names}

    def add(self, **values: Any) -> None:
        for name, column in self.data.items():
            column.append(values[name])

    def __len__(self) -> int:
        return len(next(iter(self.data.values())))

    def array(self, name: str, dtype: Any = None) -> np.ndarray:
        return np.asarray(self.data[name], dtype=dtype)


@dataclass
class CohortRecords:
    contacts: Columns = field(
        default_factory=lambda: Columns(
            "person",
            "course",
            "start_day",
            "start_min",
            "end_day",
            "end_min",
            "specialty",
            "region",
            "kontakttype",
            "priority",
        )
    )
    diagnoses: Columns = field(default_factory=lambda: Columns("contact", "code", "type"))
    procedures: Columns = field(default_factory=lambda: Columns("contact", "code", "day"))
    administrations: Columns = field(
        default_factory=lambda: Columns(
            "person",
            "day",
            "minute",
            "atc",
            "product",
            "dose",
            "unit",
            "department",
            "region",
        )
    )
    prescriptions: Columns = field(default_factory=lambda: Columns("person", "day", "atc"))
    labs: Columns = field(
        default_factory=lambda: Columns(
            "person",
            "day",
            "minute",
            "analysis",
            "value",
        )
    )
    samples: Columns = field(default_factory=lambda: Columns("person", "day", "minute", "type"))


def render_cohort(
    rng: np.random.Generator,
    cohort: list[Treatment],
    pop: Population,
    situation_rng: np.random.Generator,
) -> CohortRecords:
    """Registry rows for every treated spine member, in cohort order. The records of the
    situations (synthetic_deliveries.situations) draw from `situation_rng`, and records a
    stay abroad hides are drawn before they are dropped, so that adding a situation leaves
    every other record as it was."""
    records = CohortRecords()
    for course, tr in enumerate(cohort):
        if tr.person >= 0:
            renderer = _Renderer(rng, tr, pop, records, course)
            renderer.render()
            renderer.rng = situation_rng
            renderer.render_situations()
    return records


class _Renderer:
    def __init__(
        self,
        rng: np.random.Generator,
        tr: Treatment,
        pop: Population,
        out: CohortRecords,
        course: int,
    ) -> None:
        self.rng, self.tr, self.out, self.course = rng, tr, out, course
        self.home_region = int(pop.region[tr.person])
        self.department = f"{tr.hospital}, {tr.profile.department}"
        self.code = tr.indication.diagnosis_code
        self.end = tr.followup_end
        # Patients treated abroad are back in Danish care about a month after treatment.
        self.abroad_until = tr.treatment_day + 30

    # -- primitives ----------------------------------------------------------------------

    def in_denmark(self, day: int) -> bool:
        """True when `day` is observable here: before follow-up ends and not spent abroad."""
        abroad = self.tr.abroad and self.tr.treatment_day - 10 < day < self.abroad_until
        return day <= self.end and not abroad

    def contact(
        self,
        day: int,
        *,
        hours: float,
        diagnoses: list[tuple[str, str]],
        procedures: tuple[str, ...] = (),
        acute: bool = False,
        specialty: str | None = None,
        course: int | None = None,
        region: int | None = None,
    ) -> None:
        if not self.in_denmark(day):
            return
        start_min = int(self.rng.integers(0, DAY)) if acute else int(self.rng.integers(480, 900))
        stop = day * DAY + start_min + int(hours * 60)
        stop = min(stop, self.end * DAY + DAY - 1)
        if self.tr.abroad_on(day):
            return
        no = len(self.out.contacts)
        self.out.contacts.add(
            person=self.tr.person,
            course=self.course if course is None else course,
            start_day=day,
            start_min=start_min,
            end_day=stop // DAY,
            end_min=stop % DAY,
            specialty=specialty or self.tr.profile.specialty,
            region=self.tr.centre_region if region is None else region,
            kontakttype="ALCA00",
            priority="ATA1" if acute else "ATA3",
        )
        for code, kind in diagnoses:
            self.out.diagnoses.add(contact=no, code=code, type=kind)
        for code in procedures:
            self.out.procedures.add(contact=no, code=code, day=day)

    def give(
        self,
        day: int,
        atc: str,
        *,
        product: str | None = None,
        dose: float | None = None,
        unit: str | None = None,
    ) -> None:
        if not self.in_denmark(day):
            return
        drug = codes.HOSPITAL_DRUGS.get(atc)
        jitter = float(self.rng.uniform(0.85, 1.15))
        minute = int(self.rng.integers(420, 1200))
        if self.tr.abroad_on(day):
            return
        self.out.administrations.add(
            person=self.tr.person,
            day=day,
            minute=minute,
            atc=atc,
            product=product or (drug.product if drug else atc),
            dose=dose if dose is not None else (drug.dose * jitter if drug else 1.0),
            unit=unit or (drug.unit if drug else "dosis"),
            department=self.department,
            region=self.tr.centre_region,
        )

    def lab(self, day: int, analysis: str, value: float) -> None:
        if self.in_denmark(day):
            minute = int(self.rng.integers(420, 960))
            if not self.tr.abroad_on(day):
                self.out.labs.add(
                    person=self.tr.person, day=day, minute=minute, analysis=analysis, value=value
                )

    def sample(self, day: int, kind: str) -> None:
        if self.in_denmark(day):
            minute = int(self.rng.integers(420, 960))
            if not self.tr.abroad_on(day):
                self.out.samples.add(person=self.tr.person, day=day, minute=minute, type=kind)

    # -- the course ----------------------------------------------------------------------

    def render(self) -> None:
        tr, rng = self.tr, self.rng
        t = tr.treatment_day
        index = [(self.code, "A")]
        self.contact(
            tr.diagnosis_day,
            hours=1.5,
            diagnoses=index,
            acute=tr.indication.response_scale == "mrd",
        )
        day = tr.diagnosis_day + int(rng.integers(30, 100))
        while day < t - 20:
            self.contact(day, hours=1, diagnoses=index)
            day += int(rng.integers(45, 120))
        if tr.prior_lines:
            self.prior_lines()
        scale = tr.indication.response_scale
        if scale == "factor_ix":
            self.factor_ix_course()
        if tr.indication.product.therapy_class == "car_t":
            self.car_t_course()
        else:
            self.gene_therapy_course()
        for offset in (30, 90, 180, 365, 548, 730, 913, 1095, 1278, 1460):
            self.contact(t + offset + int(rng.integers(-5, 10)), hours=1, diagnoses=index)
        if tr.progression_day != NEVER:
            self.contact(tr.progression_day, hours=2, diagnoses=index, acute=True)
        if tr.subsequent_therapy_day != NEVER:
            for k in range(4):
                day = tr.subsequent_therapy_day + 21 * k
                self.contact(day, hours=4, diagnoses=index, procedures=(codes.ANTINEOPLASTIC,))
                for atc in codes.SUBSEQUENT_REGIMENS.get(scale, ()):
                    self.give(day, atc)
        if tr.death_day != NEVER and rng.random() < 0.6:
            cause = tr.death_causes[0] if tr.death_causes else self.code
            diagnoses = [(cause, "A")] + ([(self.code, "B")] if cause != self.code else [])
            self.contact(
                tr.death_day - int(rng.integers(0, 8)),
                hours=24 * 5,
                diagnoses=diagnoses,
                acute=True,
                region=self.home_region,
            )

    def render_situations(self) -> None:
        """The records of the awkward cases given to this patient, if any."""
        tr = self.tr
        product = tr.indication.product
        if tr.reinfusion_day != NEVER:  # same product, same episode
            cells = float(self.rng.uniform(50.0, 300.0))
            self.give(
                tr.reinfusion_day, product.atc, product=product.name, dose=cells, unit="mio. celler"
            )
        if tr.surgery_dose_day != NEVER:  # one dose around surgery: not prophylaxis
            self.give(tr.surgery_dose_day, codes.FACTOR_IX_CONCENTRATE)
        if tr.early_result_day != NEVER:
            self.lab(tr.early_result_day, "factor_ix", fix_activity(tr, tr.early_result_day))
        if tr.second_atmp is not None:  # another product: a new treatment, ATMP line 2
            second = tr.second_atmp.indication.product
            self.give(
                tr.second_atmp.treatment_day,
                second.atc,
                product=second.name,
                dose=float(self.rng.uniform(50.0, 300.0)),
                unit="mio. celler",
            )

    def prior_lines(self) -> None:
        tr, rng = self.tr, self.rng
        regimens = codes.PRIOR_REGIMENS[tr.indication.response_scale]
        span_start, span_end = tr.diagnosis_day + 14, tr.treatment_day - 45
        if span_end <= span_start:
            return
        line_len = (span_end - span_start) // tr.prior_lines
        for line in range(tr.prior_lines):
            regimen = regimens[line % len(regimens)]
            day = span_start + line * line_len
            for _ in range(int(rng.integers(3, 7))):
                if day >= span_start + (line + 1) * line_len:
                    break
                self.contact(
                    day, hours=5, diagnoses=[(self.code, "A")], procedures=(codes.ANTINEOPLASTIC,)
                )
                for atc in regimen:
                    self.give(day, atc)
                day += 21

    def car_t_course(self) -> None:
        tr, rng = self.tr, self.rng
        t = tr.treatment_day
        index = [(self.code, "A")]
        if not tr.abroad:
            stay = 10 + 3 * (tr.crs_grade or 0) + 2 * (tr.icans_grade or 0)
            self.contact(
                t - 6, hours=24 * (stay + 6), diagnoses=index, procedures=(codes.ANTINEOPLASTIC,)
            )
            for d in (t - 5, t - 4, t - 3):
                for atc in codes.LYMPHODEPLETION:
                    self.give(d, atc)
            cells = float(np.clip(rng.lognormal(np.log(180), 0.5), 20, 900))
            self.give(
                t,
                tr.indication.product.atc,
                product=tr.indication.product.name,
                dose=cells,
                unit="mio. celler",
            )
            if tr.tocilizumab and tr.crs_onset != NEVER:
                for k in range(int(rng.integers(1, 3))):
                    self.give(tr.crs_onset + k, codes.TOCILIZUMAB)
            if tr.steroid:
                start = tr.icans_onset if tr.icans_onset != NEVER else tr.crs_onset
                start = t + 3 if start == NEVER else start
                for k in range(3):
                    self.give(start + k, codes.DEXAMETHASONE, dose=10.0)
            if tr.icu_day != NEVER:
                severe = max(tr.crs_grade or 0, tr.icans_grade or 0) >= 4
                procedures = (
                    (codes.ICU_THERAPY, codes.VENTILATION) if severe else (codes.ICU_THERAPY,)
                )
                self.contact(
                    tr.icu_day,
                    hours=24 * tr.icu_days,
                    diagnoses=index,
                    procedures=procedures,
                    acute=True,
                    specialty="Anæstesiologi",
                )
        for day, code in tr.readmissions:
            days = int(rng.integers(2, 8))
            self.contact(
                day,
                hours=24 * days,
                diagnoses=[(code, "A"), (self.code, "B")],
                acute=True,
                course=10**6 + self.course,
                region=self.home_region,
            )
            for k in range(days):
                self.give(day + k, "J01CR05")
        for day in tr.ivig_days:
            self.give(day, codes.IVIG)
        self.car_t_labs()
        for k in range(5):
            for atc in codes.CAR_T_PROPHYLAXIS:
                day = t + 7 + 90 * k
                if self.in_denmark(day):
                    self.out.prescriptions.add(person=tr.person, day=day, atc=atc)
        for offset, kind in ((-7, "EDTA-fuldblod"), (-7, "serum"), (30, "plasma"), (90, "serum")):
            self.sample(t + offset, kind)

    def car_t_labs(self) -> None:
        tr, rng = self.tr, self.rng
        t = tr.treatment_day
        baseline = float(rng.lognormal(np.log(3.0), 0.3))
        nadir = float(rng.uniform(0.02, 0.5))
        for offset in (-7, 0, 7, 14, 21, 28, 60, 90, 180):
            if 5 <= offset <= 14:
                value = nadir * rng.uniform(0.7, 1.3)
            elif offset > 14:
                late = rng.uniform(0.3, 0.9) if tr.prolonged_cytopenia and offset <= 90 else None
                value = late if late is not None else baseline * rng.uniform(0.5, 1.0)
            else:
                value = baseline * rng.uniform(0.8, 1.2)
            self.lab(t + offset, "neutrophils", float(value))
        ivig = set(tr.ivig_days)
        for offset in (0, 30, 90, 180, 365, 545, 730):
            day = t + offset
            on_ivig = any(d <= day < d + 28 for d in ivig)
            if tr.b_cell_aplasia and offset > 0 and not on_ivig:
                value = rng.uniform(1.5, 4.5)
            else:
                value = rng.uniform(6.0, 10.0)
            self.lab(day, "igg", float(value))

    def factor_ix_course(self) -> None:
        tr, rng = self.tr, self.rng
        t = tr.treatment_day
        day = tr.diagnosis_day
        while day < t:
            self.give(day, codes.FACTOR_IX_CONCENTRATE)
            day += 28
        if tr.prophylaxis_resumed_day != NEVER:
            day = tr.prophylaxis_resumed_day
            while day <= self.end:
                self.give(day, codes.FACTOR_IX_CONCENTRATE)
                day += 28
        self.lab(t - 30, "factor_ix", tr.fix_baseline)
        for offset in (21, 42, 84, 182, 365, 548, 730, 913, 1095):
            level = fix_activity(tr, t + offset) * float(rng.uniform(0.85, 1.15))
            self.lab(t + offset + int(rng.integers(-3, 4)), "factor_ix", level)
            self.contact(t + offset, hours=1, diagnoses=[(self.code, "A")])
        self.sample(t - 30, "plasma")
        self.sample(t + 182, "plasma")

    def gene_therapy_course(self) -> None:
        tr, rng = self.tr, self.rng
        t = tr.treatment_day
        product = tr.indication.product
        if tr.abroad:
            return
        self.contact(t, hours=8, diagnoses=[(self.code, "A")])
        self.give(t, product.atc, product=product.name, dose=1.0, unit="dosis")
        if tr.indication.response_scale == "visual":  # subretinal, one eye at a time
            second = t + int(rng.integers(6, 19))
            self.contact(second, hours=8, diagnoses=[(self.code, "A")])
            self.give(second, product.atc, product=product.name, dose=1.0, unit="dosis")
        if tr.steroid:
            start = (
                t - 1
                if tr.indication.response_scale != "factor_ix"
                else t + int(rng.integers(42, 85))
            )
            for k in range(5):
                self.give(
                    start + 7 * k, codes.PREDNISOLONE, dose=float(rng.choice([10, 20, 40, 60]))
                )


def fix_activity(tr: Treatment, day: int) -> float:
    """True factor IX activity (%) on `day`: baseline before, rising to the plateau after."""
    if day < tr.treatment_day:
        return tr.fix_baseline
    weeks = (day - tr.treatment_day) / 7
    return tr.fix_baseline + (tr.fix_plateau - tr.fix_baseline) * (1 - np.exp(-weeks / 5))
