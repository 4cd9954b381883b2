"""The CPR delivery: persons, migrations and CPR changes (Latin-1, `;`, DD-MM-YYYY).

A snapshot: the register as it stood on the cut-off, so a later month of the same world
adds the persons born or arrived since and shows the deaths, migrations and CPR changes
since. The CPR register is keyed by the *current* number, so these files carry current CPRs
throughout; other registries carry the number valid on the event date, and
`cpr_changes.csv` is what ties old to new.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic_deliveries import names
from synthetic_deliveries.danish_csv import NEVER, fmt_date, fmt_int, hyphenate_some
from synthetic_deliveries.families import build_families
from synthetic_deliveries.population import Population
from synthetic_deliveries.sources import SourceContext

SOURCE = "cpr"
ENCODING = "latin-1"
HYPHEN_SHARE = 0.03


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.register
    delivery = ctx.delivery(SOURCE)
    status, status_day = pop.status()
    families = build_families(ctx.pop)
    persons = pa.table(
        {
            "cpr": hyphenate_some(pop.cpr, rng, HYPHEN_SHARE),
            "fornavn": pop.fornavn,
            "mellemnavn": pop.mellemnavn,
            "efternavn": pop.efternavn,
            "koen": pa.array(pop.sex.astype(np.int64)),
            "foedselsdato": fmt_date(pop.birth),
            "region": pa.array(pop.region.astype(np.int64)),
            "kommune": fmt_int(pop.kommune, 3),
            "postnr": fmt_int(pop.postnr, 4),
            "mor_cpr": _parent_cpr(pop, families.mother, rng),
            "far_cpr": _parent_cpr(pop, families.father, rng),
            "status": pa.array(status),
            "status_dato": fmt_date(status_day),
        }
    )
    registered = pop.registered()
    if not registered.all():
        persons = persons.filter(pa.array(registered))
    delivery.csv("cpr_persons.csv", "cpr_persons", persons, encoding=ENCODING)
    delivery.csv("cpr_migrations.csv", "cpr_migrations", _migrations(pop, rng), encoding=ENCODING)
    changes = pa.table(
        {
            "gammelt_cpr": pop.changed_old_cpr,
            "nyt_cpr": pop.cpr.take(pa.array(pop.changed)),
            "dato": fmt_date(pop.changed_day),
        }
    )
    delivery.csv("cpr_changes.csv", "cpr_changes", changes, encoding=ENCODING)
    return delivery.close()


def _parent_cpr(pop: Population, parent: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Each person's parent's CPR number as the register holds it on the cut-off (null when
    the register has no parent: born before 1960, born abroad, or the parent unknown)."""
    cpr = pop.cpr.take(pa.array(np.maximum(parent, 0)))
    known = pa.array(parent >= 0)
    return hyphenate_some(pc.if_else(known, cpr, pa.scalar(None, pa.string())), rng, HYPHEN_SHARE)


def _migrations(pop: Population, rng: np.random.Generator) -> pa.Table:
    countries = np.array([c for c, _ in names.COUNTRIES], dtype=object)
    parts = []
    for direction, day, country in (
        ("ind", pop.in_day, pop.in_country),
        ("ud", pop.out_day, pop.out_country),
        ("ind", pop.return_day, pop.out_country),
    ):
        idx = np.flatnonzero((day != NEVER) & (day <= pop.cutoff))
        parts.append(
            (
                idx,
                np.full(len(idx), direction, dtype=object),
                day[idx],
                countries[np.maximum(country[idx], 0)],
            )
        )
    person = np.concatenate([p[0] for p in parts])
    directions = np.concatenate([p[1] for p in parts])
    day = np.concatenate([p[2] for p in parts])
    land = np.concatenate([p[3] for p in parts])
    order = np.lexsort((person, day))
    cpr = pop.cpr.take(pa.array(person[order]))
    return pa.table(
        {
            "cpr": hyphenate_some(cpr, rng, HYPHEN_SHARE),
            "retning": pa.array(directions[order].tolist(), pa.string()),
            "dato": fmt_date(day[order]),
            "land": pa.array(land[order].tolist(), pa.string()),
        }
    )
