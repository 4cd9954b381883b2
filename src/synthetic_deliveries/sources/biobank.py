"""The biobank delivery: the sample inventory and a legacy extract without CPR.

`biobank_samples.csv` lists background samples, the treated cohort's research samples and
one DNA sample per sequenced person (carrying its genome id). `biobank_legacy.csv` is an
old extract identified only by name, birth date, sex and postcode - sometimes with a typo
or a since-changed postcode - which has to be linked probabilistically; the true links go
to the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic_deliveries import geography
from synthetic_deliveries.background import draw_events
from synthetic_deliveries.danish_csv import (
    day_number,
    fmt_date,
    fmt_datetime,
    fmt_decimal,
    fmt_int,
    hyphenate_some,
)
from synthetic_deliveries.sequencing import SequencingPlan
from synthetic_deliveries.sources import SourceContext
from synthetic_deliveries.typos import one_letter_typo

SOURCE = "biobank"
BIOBANK = "Regionernes Bio- og GenomBank"
SAMPLE_TYPES = ("EDTA-fuldblod", "plasma", "serum", "DNA")
_TYPE_WEIGHTS = (0.35, 0.25, 0.25, 0.15)
_VOLUME_ML = {
    "EDTA-fuldblod": (0.5, 4.0),
    "plasma": (0.5, 2.0),
    "serum": (0.5, 2.0),
    "DNA": (0.05, 0.5),
}
LEGACY_FROM = day_number(date(1995, 1, 1))
LEGACY_TO = day_number(date(2015, 12, 31))


@dataclass(frozen=True)
class BiobankResult:
    path: Path
    dna_sample_ids: list[str]  # one per sequenced person, in plan order
    legacy_links: pa.Table  # legacy_sample_id -> person_id


def write(ctx: SourceContext, plan: SequencingPlan | None) -> BiobankResult:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    person, day = draw_events(rng, pop, 0.04)
    kind = rng.choice(len(SAMPLE_TYPES), len(person), p=_TYPE_WEIGHTS)
    minute = rng.integers(420, 960, len(person))
    samples = ctx.records.samples
    n_plan = 0 if plan is None else len(plan.person)
    person = np.concatenate(
        [
            person,
            samples.array("person", np.int64),
            np.zeros(0, np.int64) if plan is None else plan.person,
        ]
    )
    day = np.concatenate(
        [day, samples.array("day", np.int64), np.zeros(0, np.int64) if plan is None else plan.day]
    )
    minute = np.concatenate(
        [
            minute,
            samples.array("minute", np.int64),
            np.zeros(0, np.int64) if plan is None else plan.minute,
        ]
    )
    kind = np.concatenate(
        [
            kind,
            np.array([SAMPLE_TYPES.index(t) for t in samples.data["type"]], dtype=np.int64),
            np.full(n_plan, SAMPLE_TYPES.index("DNA")),
        ]
    )
    plan_row = np.concatenate([np.full(len(person) - n_plan, -1), np.arange(n_plan)])
    n = len(person)

    o = np.lexsort((plan_row, person, minute, day))
    person, day, minute, kind, plan_row = person[o], day[o], minute[o], kind[o], plan_row[o]
    sample_ids = pc.binary_join_element_wise("RBGB", fmt_int(np.arange(1, n + 1), 9), "")
    genome_ids = np.array(plan.genome_ids if plan is not None else [], dtype=object)
    sequenced = plan_row >= 0
    genome_col = np.full(n, None, dtype=object)
    genome_col[sequenced] = genome_ids[plan_row[sequenced]]

    lo = np.array([_VOLUME_ML[t][0] for t in SAMPLE_TYPES])[kind]
    hi = np.array([_VOLUME_ML[t][1] for t in SAMPLE_TYPES])[kind]
    status = rng.choice(
        np.array(["available", "consumed", "destroyed"], dtype=object), n, p=[0.8, 0.15, 0.05]
    )
    status[sequenced] = "available"
    sites = np.array([geography.HOSPITALS[r][0] for r in range(1081, 1086)], dtype=object)
    table = pa.table(
        {
            "sample_id": sample_ids,
            "cpr": hyphenate_some(pop.cpr_at(person, day), rng, 0.01),
            "proevetype": pa.array(
                np.array(SAMPLE_TYPES, dtype=object)[kind].tolist(), pa.string()
            ),
            "udtagningstid": fmt_datetime(day, minute),
            "biobank": pa.array(np.full(n, BIOBANK, dtype=object).tolist(), pa.string()),
            "site": pa.array(sites[pop.region[person] - 1081].tolist(), pa.string()),
            "volumen_ml": fmt_decimal(lo + (hi - lo) * rng.random(n), 2),
            "frys_toe": pa.array(np.minimum(rng.poisson(0.6, n), 6)),
            "status": pa.array(status.tolist(), pa.string()),
            "genome_id": pa.array(genome_col.tolist(), pa.string()),
        }
    )
    dna_ids = [""] * n_plan
    for row in np.flatnonzero(sequenced):
        dna_ids[int(plan_row[row])] = sample_ids[int(row)].as_py()

    legacy, links = _legacy(ctx, rng)
    delivery = ctx.delivery(SOURCE)
    delivery.csv("biobank_samples.csv", "biobank_samples", table, days=day)
    delivery.csv("biobank_legacy.csv", "biobank_legacy", legacy)
    return BiobankResult(path=delivery.close(), dna_sample_ids=dna_ids, legacy_links=links)


def _legacy(ctx: SourceContext, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """About 1 % of persons sampled 1995-2015, identified by name, birth, sex and postcode."""
    pop = ctx.pop
    lo = np.maximum(np.maximum(pop.birth + 30, LEGACY_FROM), pop.in_day_or_past())
    hi = np.minimum(np.minimum(pop.death_day, pop.out_day).astype(np.int64), LEGACY_TO)
    eligible = np.flatnonzero(lo < hi)
    k = min(len(eligible), max(20, round(pop.n * 0.01)), 20000)
    person = np.sort(rng.choice(eligible, size=k, replace=False))
    day = lo[person] + np.floor(rng.random(k) * (hi[person] - lo[person])).astype(np.int64)

    first = np.asarray(pop.fornavn.take(pa.array(person)).to_pylist(), dtype=object)
    middle = pop.mellemnavn.take(pa.array(person)).to_pylist()
    last = np.asarray(pop.efternavn.take(pa.array(person)).to_pylist(), dtype=object)
    with_middle = rng.random(k) < 0.5
    first = np.array(
        [f"{f} {m}" if m and w else f for f, m, w in zip(first, middle, with_middle, strict=True)],
        dtype=object,
    )
    for i in np.flatnonzero(rng.random(k) < 0.05):
        last[i] = one_letter_typo(rng, last[i])
    for i in np.flatnonzero(rng.random(k) < 0.03):
        first[i] = one_letter_typo(rng, first[i])
    _, _, moved_post = geography.draw_residence(rng, k)
    postnr = np.where(rng.random(k) < 0.12, moved_post, pop.postnr[person])

    order = np.argsort(day, kind="stable")
    person, day, first, last, postnr = (
        person[order],
        day[order],
        first[order],
        last[order],
        postnr[order],
    )
    years = day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    ids = [f"LEG-{y}-{i + 1:06d}" for i, y in enumerate(years)]
    kind = rng.choice(np.array(SAMPLE_TYPES[:3], dtype=object), k)
    legacy = pa.table(
        {
            "legacy_sample_id": pa.array(ids, pa.string()),
            "fornavn": pa.array(first.tolist(), pa.string()),
            "efternavn": pa.array(last.tolist(), pa.string()),
            "foedselsdato": fmt_date(pop.birth[person]),
            "koen": pa.array(pop.sex[person].astype(np.int64)),
            "postnr": fmt_int(postnr, 4),
            "proevetype": pa.array(kind.tolist(), pa.string()),
            "udtagningsdato": fmt_date(day),
        }
    )
    links = pa.table(
        {
            "legacy_sample_id": pa.array(ids, pa.string()),
            "person_id": pa.array(person + 1),
        }
    )
    return legacy, links
