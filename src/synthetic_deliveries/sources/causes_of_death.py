"""The Dødsårsagsregisteret delivery (Latin-1, `;`, DD-MM-YYYY).

One row per registered death: the underlying cause (c_dod1) and up to three contributing
causes. Treated patients die of what the cohort simulation says; everyone else of an
age-appropriate cause. Certificates lag: about half of the deaths in the last two months
before the cut-off have no cause registered yet, as in the real register (a later month
delivers them, dated before its previous cut-off).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from medfollow_core.types import where_else_null
from synthetic_deliveries.danish_csv import NEVER, fmt_date
from synthetic_deliveries.population import YEAR
from synthetic_deliveries.sources import SourceContext

SOURCE = "doedsaarsag"
ENCODING = "latin-1"
LAG_DAYS = 60

_UNDERLYING_BY_AGE: tuple[tuple[float, tuple[str, ...]], ...] = (
    (1, ("DP072", "DQ249", "DR95")),
    (40, ("DV892", "DX70", "DC719", "DF102", "DX42")),
    (70, ("DC349", "DI219", "DC189", "DC509", "DK703", "DI259", "DC259")),
    (
        200,
        (
            "DI259",
            "DC349",
            "DF039",
            "DG309",
            "DJ449",
            "DI639",
            "DI500",
            "DU071",
            "DC619",
            "DJ189",
            "DI219",
        ),
    ),
)
_CONTRIBUTING = ("DI109", "DE119", "DJ189", "DN179", "DI489", "DE869", "DA419", "DJ969")


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    dead = np.flatnonzero(pop.death_day != NEVER)
    day = pop.death_day[dead]
    # Half the certificates are registered at once, the rest LAG_DAYS later.
    known = np.where(rng.random(len(dead)) < 0.5, day, day.astype(np.int64) + LAG_DAYS)
    registered = known <= pop.cutoff
    dead, day, known = dead[registered], day[registered], known[registered]
    n = len(dead)

    age = (day - pop.birth[dead]) / YEAR
    band = np.digitize(age, [b for b, _ in _UNDERLYING_BY_AGE[:-1]])
    causes = np.empty((n, 4), dtype=object)
    for b, (_, pool) in enumerate(_UNDERLYING_BY_AGE):
        sel = band == b
        causes[sel, 0] = np.array(pool, dtype=object)[rng.integers(0, len(pool), sel.sum())]
    # Up to three distinct contributing causes, filled from the left.
    distinct = np.argsort(rng.random((n, len(_CONTRIBUTING))), axis=1)[:, :3]
    listed = np.ones(n, bool)
    for k, p in ((1, 0.6), (2, 0.5), (3, 0.33)):
        listed &= rng.random(n) < p
        picks = np.array(_CONTRIBUTING, dtype=object)[distinct[:, k - 1]]
        causes[:, k] = where_else_null(listed, picks)

    row_of = {int(p): i for i, p in enumerate(dead)}
    for tr in ctx.cohort:
        i = row_of.get(tr.person)
        if i is not None and tr.death_causes:
            given = list(tr.death_causes)[:4]
            causes[i, :] = [*given, *([None] * (4 - len(given)))]

    o = np.lexsort((dead, day))
    table = pa.table(
        {
            "cpr": pop.cpr_at(dead[o], day[o]),
            "doedsdato": fmt_date(day[o]),
            **{f"c_dod{k + 1}": pa.array(causes[o, k].tolist(), pa.string()) for k in range(4)},
        }
    )
    delivery = ctx.delivery(SOURCE)
    delivery.csv("doedsaarsag.csv", "doedsaarsag", table, encoding=ENCODING, days=known[o])
    return delivery.close()
