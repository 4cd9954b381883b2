"""The laboratory delivery (UTF-8, `;`, decimal comma, `DD-MM-YYYY HH:MM`).

Background LDL cholesterol (of adults; the FH carriers' own measurements, high until they
are treated, come from `families.fh_care`) and neutrophil counts,
plus the cohort's follow-up analyses: neutrophils (cytopenia) and IgG (B-cell aplasia)
after CAR-T, factor IX activity after haemophilia B gene therapy. Values under an
analysis's reporting floor are written as text such as `<0,1`, as laboratories do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic_deliveries import codes
from synthetic_deliveries.background import draw_events
from synthetic_deliveries.danish_csv import fmt_datetime, fmt_decimal, hyphenate_some
from synthetic_deliveries.families import build_families, fh_care
from synthetic_deliveries.population import YEAR
from synthetic_deliveries.sources import SourceContext

SOURCE = "lab"
_KEYS = tuple(codes.ANALYSES)


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    adult = (pop.cutoff - pop.birth) / YEAR >= 30
    families = build_families(pop)
    care = fh_care(pop, families)
    background = adult & ~families.carrier
    ldl_person, ldl_day = draw_events(rng, pop, np.where(background, 0.08, 0.0))
    ldl = rng.lognormal(np.log(3.0), 0.28, len(ldl_person))
    ldl_person = np.concatenate([ldl_person, care.ldl_person])
    ldl_day = np.concatenate([ldl_day, care.ldl_day])
    ldl = np.concatenate([ldl, care.ldl_value])
    neu_person, neu_day = draw_events(rng, pop, 0.05)
    neu = rng.lognormal(np.log(3.6), 0.35, len(neu_person))

    labs = ctx.records.labs
    person = np.concatenate([ldl_person, neu_person, labs.array("person", np.int64)])
    day = np.concatenate([ldl_day, neu_day, labs.array("day", np.int64)])
    analysis = np.concatenate(
        [
            np.full(len(ldl_person), _KEYS.index("ldl")),
            np.full(len(neu_person), _KEYS.index("neutrophils")),
            np.array([_KEYS.index(a) for a in labs.data["analysis"]], dtype=np.int64),
        ]
    )
    value = np.concatenate([ldl, neu, labs.array("value", float)])
    minute = np.concatenate(
        [rng.integers(450, 960, len(ldl_person) + len(neu_person)), labs.array("minute", np.int64)]
    )

    o = np.lexsort((person, minute, day))
    person, day, analysis, value, minute = person[o], day[o], analysis[o], value[o], minute[o]
    specs = [codes.ANALYSES[k] for k in _KEYS]
    by_analysis = pa.array(analysis)
    vaerdi = pa.nulls(len(analysis), pa.string())
    for i, spec in enumerate(specs):  # each analysis has its own decimals and reporting floor
        floor_text = "<" + fmt_decimal(np.array([spec.floor]), 1)[0].as_py()
        text = pc.if_else(
            pa.array(value < spec.floor), floor_text, fmt_decimal(value, spec.decimals)
        )
        vaerdi = pc.if_else(pa.array(analysis == i), text, vaerdi)

    def column(values: list[str]) -> pa.Array:
        return pa.array(values).take(by_analysis)

    table = pa.table(
        {
            "cpr": hyphenate_some(pop.cpr_at(person, day), rng, 0.01),
            "proevetid": fmt_datetime(day, minute),
            "npu_kode": column([s.npu for s in specs]),
            "analysenavn": column([s.name for s in specs]),
            "vaerdi": vaerdi,
            "enhed": column([s.unit for s in specs]),
            "ref_nedre": column(fmt_decimal(np.array([s.ref_low for s in specs]), 1).to_pylist()),
            "ref_oevre": column(fmt_decimal(np.array([s.ref_high for s in specs]), 1).to_pylist()),
        }
    )
    delivery = ctx.delivery(SOURCE)
    delivery.csv("lab.csv", "lab", table, days=day)
    return delivery.close()
