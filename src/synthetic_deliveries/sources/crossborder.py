"""The cross-border outcome extract: Danish patients treated at Nordic centres, no CPR.

All patients of products administered abroad and about one in ten CAR-T patients are
reported here, identified only by name, birth date, sex, postcode and municipality, with
the errors such extracts really carry: æ/ø/å transliterated (or the reverse), day and
month swapped, one-digit date typos, dropped middle names, double surnames with or without
hyphen and single-letter typos. About 10 % of the patients are not in the CPR spine at all
(e.g. residents of the Faroe Islands or Greenland). `ground_truth/crossborder_links.parquet`
records the true person behind every foreign id, and which corruptions were applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from synthetic_deliveries import geography, names
from synthetic_deliveries.catalogue import Indication
from synthetic_deliveries.cohort import PROFILES, Treatment, simulate
from synthetic_deliveries.danish_csv import to_date32
from synthetic_deliveries.population import LPR3_START, YEAR
from synthetic_deliveries.sources import SourceContext
from synthetic_deliveries.sources.outcomes import assessments, outcome_columns
from synthetic_deliveries.typos import danicise, one_letter_typo, transliterate

SOURCE = "outcomes_crossborder"
OUTSIDE_SPINE_SHARE = 0.10
CENTRES: tuple[tuple[str, str, str], ...] = (
    ("Karolinska Universitetssjukhuset, Stockholm", "SE", "KS"),
    ("Skånes universitetssjukhus, Lund", "SE", "SUS"),
    ("Sahlgrenska Universitetssjukhuset, Göteborg", "SE", "SU"),
    ("Oslo universitetssykehus", "NO", "OUS"),
    ("Helsingin yliopistollinen sairaala (HUS), Helsinki", "FI", "HUS"),
)


@dataclass(frozen=True)
class _Identity:
    fornavn: str
    mellemnavn: str | None
    efternavn: str
    birth: int
    sex: int
    postnr: int
    kommune: int


@dataclass(frozen=True)
class CrossborderResult:
    path: Path
    links: pa.Table


def write(ctx: SourceContext) -> CrossborderResult:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    patients: list[tuple[Treatment, _Identity]] = []
    for tr in ctx.cohort:
        if tr.abroad and tr.person >= 0:
            p = tr.person
            patients.append(
                (
                    tr,
                    _Identity(
                        pop.fornavn[p].as_py(),
                        pop.mellemnavn[p].as_py(),
                        pop.efternavn[p].as_py(),
                        int(pop.birth[p]),
                        int(pop.sex[p]),
                        int(pop.postnr[p]),
                        int(pop.kommune[p]),
                    ),
                )
            )
    abroad_indications = _abroad_indications(ctx)
    outside = round(len(patients) * OUTSIDE_SPINE_SHARE / (1 - OUTSIDE_SPINE_SHARE))
    if abroad_indications:
        outside = max(outside, 1)
        for _ in range(outside):
            patients.append(_outside_spine_patient(rng, abroad_indications, pop.cutoff))
    patients.sort(key=lambda p: (p[0].treatment_day, p[1].birth))

    person_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    centre_rows: list[str] = []
    id_rows: list[str] = []
    treated_on = np.array([tr.treatment_day for tr, _ in patients], np.int64)
    for seq, (tr, ident) in enumerate(patients, start=1):
        centre, country, short = CENTRES[int(rng.integers(0, len(CENTRES)))]
        foreign_id = f"{country}-{short}-{seq:05d}"
        record, applied = _corrupt(rng, ident)
        person_rows.append({"foreign_patient_id": foreign_id, **record})
        link_rows.append(
            {
                "foreign_patient_id": foreign_id,
                "person_id": tr.person + 1 if tr.person >= 0 else None,
                "product_code": tr.indication.product.code,
                "treatment_date": tr.treatment_day,
                "corruptions": ",".join(applied),
            }
        )
        for row in assessments(rng, tr):
            assessment_rows.append(row)
            centre_rows.append(centre)
            id_rows.append(foreign_id)

    patients_table = pa.table(
        {
            "foreign_patient_id": pa.array(
                [r["foreign_patient_id"] for r in person_rows], pa.string()
            ),
            "fornavn": pa.array([r["fornavn"] for r in person_rows], pa.string()),
            "efternavn": pa.array([r["efternavn"] for r in person_rows], pa.string()),
            "foedselsdato": pa.array([r["foedselsdato"] for r in person_rows], pa.string()),
            "koen": pa.array([r["koen"] for r in person_rows], pa.string()),
            "postnr": pa.array([r["postnr"] for r in person_rows], pa.string()),
            "kommune": pa.array([r["kommune"] for r in person_rows], pa.string()),
        }
    )
    assessments_table = pa.table(
        {
            "foreign_patient_id": pa.array(id_rows, pa.string()),
            "behandlingscenter": pa.array(centre_rows, pa.string()),
            **outcome_columns(assessment_rows),
        }
    )
    links = pa.table(
        {
            "foreign_patient_id": pa.array(
                [r["foreign_patient_id"] for r in link_rows], pa.string()
            ),
            "person_id": pa.array([r["person_id"] for r in link_rows], pa.int64()),
            "product_code": pa.array([r["product_code"] for r in link_rows], pa.string()),
            "treatment_date": to_date32(
                np.array([r["treatment_date"] for r in link_rows], np.int64)
            ),
            "corruptions": pa.array([r["corruptions"] for r in link_rows], pa.string()),
        }
    )
    # A patient is reported from the month of treatment, each assessment in its own month.
    delivery = ctx.delivery(SOURCE)
    delivery.csv("patients.csv", "patients", patients_table, days=treated_on)
    delivery.csv(
        "assessments.csv",
        "assessments",
        assessments_table,
        days=np.array([r["vurderingsdato"] for r in assessment_rows], np.int64),
    )
    return CrossborderResult(path=delivery.close(), links=links)


def _abroad_indications(ctx: SourceContext) -> list[Indication]:
    seen = {tr.indication for tr in ctx.cohort if tr.abroad}
    return sorted(seen, key=lambda i: (i.product.code, i.group))


def _outside_spine_patient(
    rng: np.random.Generator, indications: list[Indication], cutoff: int
) -> tuple[Treatment, _Identity]:
    """A patient with no Danish CPR (Faroese, Greenlandic, or never registered)."""
    ind = indications[int(rng.integers(0, len(indications)))]
    prof = PROFILES[ind.response_scale]
    t = int(LPR3_START + 365 + rng.random() * (cutoff - 7 - LPR3_START - 365))
    age = (ind.min_age + (ind.max_age - ind.min_age) * rng.beta(*prof.age_beta)) * YEAR
    birth = int(t - max(age, 30.0))
    sex = 1 if ind.product.target == "F9" else int(rng.integers(1, 3))
    tr = Treatment(
        person=-1,
        birth=birth,
        sex=sex,
        indication=ind,
        diagnosis_day=t - 60,
        treatment_day=t,
        abroad=True,
        centre_region=0,
        hospital="",
    )
    simulate(rng, tr, cutoff)
    first = names.MALE_FIRST if sex == 1 else names.FEMALE_FIRST
    surnames = [s for s, _ in names.SURNAMES]
    _, _, postnr = geography.draw_residence(rng, 1)
    ident = _Identity(
        fornavn=first[int(rng.integers(0, len(first)))],
        mellemnavn=None,
        efternavn=surnames[int(rng.integers(0, len(surnames)))],
        birth=birth,
        sex=sex,
        postnr=int(postnr[0]),
        kommune=0,
    )
    return tr, ident


def _corrupt(rng: np.random.Generator, ident: _Identity) -> tuple[dict[str, str | None], list[str]]:
    applied: list[str] = []
    fornavn, efternavn = ident.fornavn, ident.efternavn
    if ident.mellemnavn:
        if rng.random() < 0.5:
            fornavn = f"{fornavn} {ident.mellemnavn}"
        else:
            applied.append("dropped_middle_name")
    if "-" in efternavn and rng.random() < 0.5:
        efternavn = efternavn.replace("-", " ")
        applied.append("double_surname_space")
    full = fornavn + efternavn
    if any(ch in full for ch in "æøåÆØÅ") and rng.random() < 0.5:
        fornavn, efternavn = transliterate(fornavn), transliterate(efternavn)
        applied.append("transliterated")
    elif any(s in full.lower() for s in ("aa", "oe", "ae")) and rng.random() < 0.2:
        fornavn, efternavn = danicise(fornavn), danicise(efternavn)
        applied.append("reverse_transliterated")
    if rng.random() < 0.1:
        if rng.random() < 0.5:
            fornavn = one_letter_typo(rng, fornavn)
        else:
            efternavn = one_letter_typo(rng, efternavn)
        applied.append("letter_typo")

    born = np.datetime64(ident.birth, "D").astype(object)
    day, month, year = born.day, born.month, born.year
    if day <= 12 and day != month and rng.random() < 0.08:
        day, month = month, day
        applied.append("swapped_day_month")
    elif rng.random() < 0.05:
        if rng.random() < 0.5 and 2 <= day <= 27:
            day += int(rng.choice([-1, 1]))
        else:
            year += int(rng.choice([-1, 1]))
        applied.append("date_digit_typo")
    postnr = None if rng.random() < 0.08 else f"{ident.postnr:04d}"
    kommune = None if ident.kommune == 0 or rng.random() < 0.2 else f"{ident.kommune:03d}"
    return {
        "fornavn": fornavn,
        "efternavn": efternavn,
        "foedselsdato": f"{day:02d}-{month:02d}-{year:04d}",
        "koen": str(ident.sex),
        "postnr": postnr,
        "kommune": kommune,
    }, applied
