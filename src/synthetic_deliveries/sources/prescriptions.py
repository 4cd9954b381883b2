"""The Lægemiddelstatistikregisteret delivery (Parquet: typed columns, no CSV quirks).

Community-pharmacy dispensings only: age- and sex-appropriate everyday drugs, lipid-lowering
treatment of familial hypercholesterolaemia carriers once diagnosed (statins, some with
ezetimibe or a PCSK9 inhibitor), drugs of pharmacogenetic gene-drug pairs for a few percent
of adults, and antiviral/PJP prophylaxis for CAR-T patients. Hospital drugs, ATMPs among them, never appear here. Product numbers (vnr)
and indication codes (indo) are synthetic.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from medfollow_core.types import where_else_null
from synthetic_deliveries import codes
from synthetic_deliveries.background import age_at_midpoint, draw_events
from synthetic_deliveries.danish_csv import NEVER, to_date32
from synthetic_deliveries.families import build_families, fh_care
from synthetic_deliveries.population import YEAR
from synthetic_deliveries.sources import SourceContext

SOURCE = "lmdb"
_AGE_BANDS = (0, 15, 35, 55, 75, 200)


# Drugs dispensed here besides the everyday ones of codes.PRESCRIPTION_DRUGS: the other
# lipid-lowering drugs of FH care, and the drugs of CPIC gene-drug pairs, so that the
# pharmacogenetic exposure mart has dispensings to join (packs and DDDs are plausible).
_EXTRA_DRUGS: tuple[codes.PrescriptionDrug, ...] = (
    codes.PrescriptionDrug("C10AA07", 98, 196.0, 18, 110, 0, 0, "0000245"),  # rosuvastatin
    codes.PrescriptionDrug("C10AX09", 98, 98.0, 18, 110, 0, 0, "0000245"),  # ezetimibe
    codes.PrescriptionDrug("C10AX13", 2, 2.0, 18, 110, 0, 0, "0000245"),  # evolocumab
    codes.PrescriptionDrug("C10AX14", 2, 2.0, 18, 110, 0, 0, "0000245"),  # alirocumab
    codes.PrescriptionDrug("B01AC04", 84, 84.0, 18, 110, 0, 0, "0000190"),  # clopidogrel
    codes.PrescriptionDrug("L01BC06", 120, 20.0, 18, 110, 0, 0, None),  # capecitabine
    codes.PrescriptionDrug("L01BC02", 10, 5.0, 18, 110, 0, 0, None),  # fluorouracil
    codes.PrescriptionDrug("L04AX01", 100, 66.7, 18, 110, 0, 0, None),  # azathioprine
    codes.PrescriptionDrug("L01BB02", 25, 12.5, 18, 110, 0, 0, None),  # mercaptopurine
    codes.PrescriptionDrug("N06AB04", 100, 100.0, 18, 110, 0, 0, "0000221"),  # citalopram
    codes.PrescriptionDrug("N06AB10", 98, 98.0, 18, 110, 0, 0, "0000221"),  # escitalopram
    codes.PrescriptionDrug("A02BC01", 56, 56.0, 18, 110, 0, 0, "0000305"),  # omeprazole
    codes.PrescriptionDrug("J02AC03", 14, 7.0, 18, 110, 0, 0, None),  # voriconazole
)
_DRUGS = codes.PRESCRIPTION_DRUGS + tuple(
    d for d in _EXTRA_DRUGS if d.atc not in {p.atc for p in codes.PRESCRIPTION_DRUGS}
)
# CPIC gene-drug pairs: (ATC, share of adults dispensed it from 2019 on, dispensings a year).
PGX_DRUGS: tuple[tuple[str, float, float], ...] = (
    ("B01AC04", 0.010, 4.0),
    ("C10AA01", 0.010, 4.0),
    ("C10AA05", 0.015, 4.0),
    ("C10AA07", 0.008, 4.0),
    ("L01BC06", 0.002, 6.0),
    ("L01BC02", 0.001, 6.0),
    ("L04AX01", 0.003, 4.0),
    ("L01BB02", 0.001, 4.0),
    ("N06AB04", 0.010, 4.0),
    ("N06AB10", 0.010, 4.0),
    ("N06AB06", 0.008, 4.0),
    ("A02BC01", 0.015, 3.0),
    ("A02BC02", 0.010, 3.0),
    ("J02AC03", 0.001, 6.0),
)
# FH treatment once started: a statin, for some ezetimibe on top, for a few a PCSK9 inhibitor.
_FH_STATINS = ("C10AA05", "C10AA07")
_FH_ADD_ON = (("C10AX09", 0.35), ("C10AX13", 0.05), ("C10AX14", 0.03))
_FH_RATE = 3.6  # a pack about every 100 days


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    drugs = _DRUGS
    person, day = draw_events(rng, pop, 0.1 + 0.01 * age_at_midpoint(pop))
    drug = _draw_drugs(rng, pop.birth[person], pop.sex[person], day)
    atc_index = {d.atc: i for i, d in enumerate(drugs)}

    # Lipid-lowering drugs of FH carriers from the start of their treatment on, and the
    # gene-drug pairs' drugs; drawn from streams of their own so the background stays put.
    fh_person, fh_day, fh_drug = _fh_treatment(ctx, atc_index)
    pgx_person, pgx_day, pgx_drug = _pgx_exposures(ctx, atc_index)
    rx = ctx.records.prescriptions
    person = np.concatenate([person, fh_person, pgx_person, rx.array("person", np.int64)])
    day = np.concatenate([day, fh_day, pgx_day, rx.array("day", np.int64)])
    drug = np.concatenate(
        [
            drug,
            fh_drug,
            pgx_drug,
            np.array([atc_index[a] for a in rx.data["atc"]], dtype=np.int64),
        ]
    )
    n = len(person)
    apk = rng.choice([1, 1, 1, 1, 1, 1, 2, 2, 3], n).astype(np.int32)
    variant = rng.integers(0, 2, n)
    vnr_table = np.array([[_vnr(d.atc, v) for v in range(2)] for d in drugs], dtype=object)
    packsize = np.array([d.packsize for d in drugs], np.int32)
    ddd = np.array([d.ddd_per_pack for d in drugs])
    atc = np.array([d.atc for d in drugs], dtype=object)
    indo = np.array([d.indo for d in drugs], dtype=object)
    has_indo = rng.random(n) < 0.85

    o = np.lexsort((person, day))
    table = pa.table(
        {
            "cpr": pop.cpr_at(person[o], day[o]),
            "eksd": to_date32(day[o]),
            "atc": pa.array(atc[drug[o]].tolist(), pa.string()),
            "vnr": pa.array(vnr_table[drug[o], variant[o]].tolist(), pa.string()),
            "apk": pa.array(apk[o]),
            "packsize": pa.array(packsize[drug[o]]),
            "volume": pa.array(np.round(apk[o] * ddd[drug[o]], 2)),
            "indo": pa.array(where_else_null(has_indo[o], indo[drug[o]]).tolist(), pa.string()),
        }
    )
    delivery = ctx.delivery(SOURCE)
    delivery.parquet("lmdb.parquet", "lmdb", table, days=day[o])
    return delivery.close()


def _fh_treatment(
    ctx: SourceContext, atc_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dispensings of each treated FH carrier from `fh_care`'s treatment start on."""
    pop = ctx.pop
    rng = ctx.rng(f"{SOURCE}:fh")
    care = fh_care(pop, build_families(pop))
    started = care.treated_from != NEVER
    statin = rng.integers(0, len(_FH_STATINS), pop.n)
    persons, days, drugs = [], [], []
    regimens = [(np.ones(pop.n, bool), None)] + [
        (rng.random(pop.n) < share, atc) for atc, share in _FH_ADD_ON
    ]
    first, last = pop.window()
    start = np.maximum(first.astype(np.int64), care.treated_from)
    span = np.where(started, np.maximum(last.astype(np.int64) - start + 1, 0), 0)
    for on, atc in regimens:
        counts = rng.poisson(_FH_RATE * np.where(on, span, 0) / YEAR)
        person = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
        day = start[person] + np.floor(rng.random(len(person)) * span[person]).astype(np.int64)
        if atc is None:
            drug = np.array([atc_index[a] for a in _FH_STATINS], np.int64)[statin[person]]
        else:
            drug = np.full(len(person), atc_index[atc], np.int64)
        persons.append(person)
        days.append(day)
        drugs.append(drug)
    return np.concatenate(persons), np.concatenate(days), np.concatenate(drugs)


def _pgx_exposures(
    ctx: SourceContext, atc_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few percent of adults dispensed each CPIC-paired drug. The treated cohort is left
    out: an antimetabolite dispensed after an ATMP would read as subsequent therapy."""
    pop = ctx.pop
    rng = ctx.rng(f"{SOURCE}:pgx")
    adult = (pop.cutoff - pop.birth) / YEAR >= 18
    adult[[tr.person for tr in ctx.cohort if tr.person >= 0]] = False
    persons, days, drugs = [], [], []
    for atc, share, rate in PGX_DRUGS:
        on = adult & (rng.random(pop.n) < share)
        person, day = draw_events(rng, pop, np.where(on, rate, 0.0))
        persons.append(person)
        days.append(day.astype(np.int64))
        drugs.append(np.full(len(person), atc_index[atc], np.int64))
    return np.concatenate(persons), np.concatenate(days), np.concatenate(drugs)


def _vnr(atc: str, variant: int) -> str:
    """A stable synthetic 6-digit product number per ATC code and pack variant."""
    return f"{100000 + (zlib.crc32(atc.encode()) + 7919 * variant) % 900000:06d}"


def _draw_drugs(
    rng: np.random.Generator, birth: np.ndarray, sex: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Index into PRESCRIPTION_DRUGS by age band and sex at dispensing."""
    drugs = codes.PRESCRIPTION_DRUGS
    age = (day - birth) / YEAR
    band = np.digitize(age, _AGE_BANDS[1:-1])
    out = np.zeros(len(age), np.int64)
    for b in range(len(_AGE_BANDS) - 1):
        mid = (_AGE_BANDS[b] + min(_AGE_BANDS[b + 1], 95)) / 2
        for s in (1, 2):
            sel = np.flatnonzero((band == b) & (sex == s))
            w = np.array(
                [
                    d.weight if d.min_age <= mid <= d.max_age and d.sex in (0, s) else 0.0
                    for d in drugs
                ]
            )
            if len(sel) and w.sum() > 0:
                out[sel] = rng.choice(len(drugs), len(sel), p=w / w.sum())
    return out
