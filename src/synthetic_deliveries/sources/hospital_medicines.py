"""The Sygehusmedicinregisteret delivery (UTF-8, `;`, decimal comma, DD-MM-YYYY).

Hospital-administered drugs only: the ATMP administrations (except for patients treated
abroad), chemotherapy, tocilizumab, IVIG and factor IX concentrate of the treated cohort,
and a thin layer of ordinary hospital treatment (intravitreal injections, iron,
antibiotics, biologics) for everyone else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from synthetic_deliveries import codes, geography
from synthetic_deliveries.background import age_at_midpoint, draw_events
from synthetic_deliveries.danish_csv import fmt_date, fmt_decimal, fmt_time, hyphenate_some
from synthetic_deliveries.sources import SourceContext

SOURCE = "sygehusmedicin"

_DEPARTMENTS = {
    "S": "Øjenafdeling",
    "L01": "Onkologisk Afdeling",
    "L04": "Medicinsk Afdeling",
    "J": "Medicinsk Afdeling",
    "B": "Medicinsk Afdeling",
    "M": "Endokrinologisk Afdeling",
    "A": "Kirurgisk Afdeling",
    "N": "Kirurgisk Afdeling",
}


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    person, day = draw_events(rng, pop, 0.004 + 0.0008 * age_at_midpoint(pop))
    n = len(person)
    atcs = np.array([a for a, _ in codes.BACKGROUND_HOSPITAL_DRUGS], dtype=object)
    weights = np.array([w for _, w in codes.BACKGROUND_HOSPITAL_DRUGS])
    atc = atcs[rng.choice(len(atcs), n, p=weights / weights.sum())]
    drug_of = {a: codes.HOSPITAL_DRUGS[a] for a in atcs}
    product = np.array([drug_of[a].product for a in atc], dtype=object)
    dose = np.array([drug_of[a].dose for a in atc]) * rng.uniform(0.8, 1.2, n)
    unit = np.array([drug_of[a].unit for a in atc], dtype=object)
    region = pop.region[person].astype(np.int64)
    hospital = np.array([geography.HOSPITALS[int(r)][0] for r in range(1081, 1086)], dtype=object)
    department = (
        hospital[region - 1081] + ", " + np.array([_department(a) for a in atc], dtype=object)
    )
    minute = rng.integers(420, 1200, n)

    adm = ctx.records.administrations
    person = np.concatenate([person, adm.array("person", np.int64)])
    day = np.concatenate([day, adm.array("day", np.int64)])
    minute = np.concatenate([minute, adm.array("minute", np.int64)])
    atc = np.concatenate([atc, adm.array("atc", object)])
    product = np.concatenate([product, adm.array("product", object)])
    dose = np.concatenate([dose, adm.array("dose", float)])
    unit = np.concatenate([unit, adm.array("unit", object)])
    department = np.concatenate([department, adm.array("department", object)])
    region = np.concatenate([region, adm.array("region", np.int64)])

    o = np.lexsort((person, minute, day))
    table = pa.table(
        {
            "cpr": hyphenate_some(pop.cpr_at(person[o], day[o]), rng, 0.01),
            "adm_dato": fmt_date(day[o]),
            "adm_tid": fmt_time(minute[o]),
            "atc": pa.array(atc[o].tolist(), pa.string()),
            "produktnavn": pa.array(product[o].tolist(), pa.string()),
            "dosis": fmt_decimal(dose[o], 1),
            "enhed": pa.array(unit[o].tolist(), pa.string()),
            "afdeling": pa.array(department[o].tolist(), pa.string()),
            "region": pa.array(region[o]),
        }
    )
    delivery = ctx.delivery(SOURCE)
    delivery.csv("sygehusmedicin.csv", "sygehusmedicin", table, days=day[o])
    return delivery.close()


def _department(atc: str) -> str:
    for prefix in (atc[:3], atc[:1]):
        if prefix in _DEPARTMENTS:
            return _DEPARTMENTS[prefix]
    return "Medicinsk Afdeling"
