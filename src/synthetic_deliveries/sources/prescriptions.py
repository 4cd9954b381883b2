"""The Lægemiddelstatistikregisteret delivery (Parquet: typed columns, no CSV quirks).

Community-pharmacy dispensings only: age- and sex-appropriate everyday drugs, regular
statins for persons with familial hypercholesterolaemia, and antiviral/PJP prophylaxis for
CAR-T patients. Hospital drugs, ATMPs among them, never appear here. Product numbers (vnr)
and indication codes (indo) are synthetic.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from medfollow_core.types import where_else_null
from synthetic_deliveries import codes
from synthetic_deliveries.background import (
    age_at_midpoint,
    draw_events,
    familial_hypercholesterolaemia,
)
from synthetic_deliveries.danish_csv import to_date32
from synthetic_deliveries.population import YEAR
from synthetic_deliveries.sources import SourceContext

SOURCE = "lmdb"
_AGE_BANDS = (0, 15, 35, 55, 75, 200)


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    drugs = codes.PRESCRIPTION_DRUGS
    person, day = draw_events(rng, pop, 0.1 + 0.01 * age_at_midpoint(pop))
    drug = _draw_drugs(rng, pop.birth[person], pop.sex[person], day)

    # FH: a statin every ~100 days across their time in Denmark.
    fh = familial_hypercholesterolaemia(ctx.seed, pop)
    fh_person, fh_day = draw_events(rng, pop, np.where(fh, 3.6, 0.0))
    atc_index = {d.atc: i for i, d in enumerate(drugs)}
    statin = atc_index[codes.STATINS[0]]
    rx = ctx.records.prescriptions
    person = np.concatenate([person, fh_person, rx.array("person", np.int64)])
    day = np.concatenate([day, fh_day, rx.array("day", np.int64)])
    drug = np.concatenate(
        [
            drug,
            np.full(len(fh_person), statin),
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
