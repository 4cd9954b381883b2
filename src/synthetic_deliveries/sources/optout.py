"""The opt-out register deliveries: tissue use (`vaev`) and genetic data (`genetik`).

A first delivery is two monthly snapshots (Latin-1, `;`, DD-MM-YYYY): the previous
month's, and the cut-off month's, which adds new opt-outs - some by persons already
sequenced, whose contributions must then be removed downstream - and ends a couple of
earlier ones (`gyldig_til` set).
Each later month of the same world (`generate_rounds`) is one more such update.
The standing opt-outs are drawn before sequencing so the genome sample can include
opted-out persons on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from synthetic_deliveries.danish_csv import NEVER, day_number, fmt_date
from synthetic_deliveries.delivery import Delivery
from synthetic_deliveries.population import Population
from synthetic_deliveries.rng import stream
from synthetic_deliveries.sources import SourceContext

SOURCE = "optout"
ENCODING = "latin-1"
REGISTERS = ("vaev", "genetik")
# The tissue register dates from the late 1990s; the digital genetic opt-out is recent.
REGISTER_START = {"vaev": day_number(date(1997, 1, 1)), "genetik": day_number(date(2024, 1, 1))}
REGISTER_SHARE = {"vaev": 0.02, "genetik": 0.01}


@dataclass(frozen=True)
class OptOuts:
    person: np.ndarray
    register: np.ndarray  # index into REGISTERS
    valid_from: np.ndarray
    valid_to: np.ndarray  # NEVER while in force

    def active(self, on_day: int) -> np.ndarray:
        return (self.valid_from <= on_day) & (self.valid_to > on_day)


def previous_cutoff(cutoff: date) -> date:
    """Last day of the month before the cut-off's month."""
    return cutoff.replace(day=1) - timedelta(days=1)


def standing_optouts(seed: int, pop: Population, cutoff: date) -> OptOuts:
    """Opt-outs registered up to the previous month's cut-off (some already withdrawn)."""
    rng = stream(seed, "optout:standing")
    until = day_number(previous_cutoff(cutoff))
    first, last = _alive_window(pop)
    parts = []
    for r, name in enumerate(REGISTERS):
        lo = np.maximum(first, REGISTER_START[name])
        hi = np.minimum(last, until)
        eligible = np.flatnonzero(lo <= hi)
        k = round(len(eligible) * REGISTER_SHARE[name])
        person = np.sort(rng.choice(eligible, size=k, replace=False))
        start = lo[person] + np.floor(rng.random(k) * (hi[person] - lo[person] + 1)).astype(
            np.int64
        )
        withdrawn = (rng.random(k) < 0.05) & (start < until)
        end = np.where(
            withdrawn, start + 1 + np.floor(rng.random(k) * (until - start)).astype(np.int64), NEVER
        )
        parts.append((person, np.full(k, r), start, end))
    return OptOuts(*(np.concatenate([p[i] for p in parts]).astype(np.int64) for i in range(4)))


def month_update(
    rng: np.random.Generator,
    pop: Population,
    standing: OptOuts,
    sequenced: np.ndarray,
    prev_day: int,
) -> OptOuts:
    """The register at `pop.cutoff`: `standing` (as of `prev_day`) with this month's
    withdrawals and new opt-outs, some of them by persons already sequenced."""
    cut = pop.cutoff
    # A couple of standing opt-outs are withdrawn during the cut-off month.
    active = np.flatnonzero(standing.active(prev_day))
    ended = rng.choice(
        active, size=min(len(active), max(2, round(len(active) * 0.002))), replace=False
    )
    valid_to = standing.valid_to.copy()
    valid_to[ended] = prev_day + 1 + rng.integers(0, cut - prev_day, len(ended))
    updated = replace(standing, valid_to=valid_to)

    # New opt-outs this month, deliberately including some sequenced persons.
    f, last = _alive_window(pop)
    present = np.flatnonzero((f <= cut) & (last > prev_day))
    new_people = rng.choice(
        present, size=min(len(present), max(3, round(pop.n * 0.0005))), replace=False
    )
    sequenced = sequenced[(f[sequenced] <= cut) & (last[sequenced] > prev_day)]
    if len(sequenced):
        k = min(len(sequenced), max(1, round(0.05 * len(sequenced))))
        new_people = np.concatenate([new_people, rng.choice(sequenced, size=k, replace=False)])
    new_people = np.unique(new_people)
    new_register = np.where(rng.random(len(new_people)) < 0.6, 1, 0)
    already = set(
        zip(
            updated.person[updated.active(prev_day)].tolist(),
            updated.register[updated.active(prev_day)].tolist(),
            strict=True,
        )
    )
    keep = np.array(
        [(int(p), int(r)) not in already for p, r in zip(new_people, new_register, strict=True)],
        dtype=bool,
    )
    new_people, new_register = new_people[keep], new_register[keep]
    lo = np.maximum(f[new_people], prev_day + 1)
    hi = np.minimum(last[new_people], cut)
    new_from = lo + np.floor(rng.random(len(new_people)) * (hi - lo + 1)).astype(np.int64)
    return OptOuts(
        person=np.concatenate([updated.person, new_people]),
        register=np.concatenate([updated.register, new_register]),
        valid_from=np.concatenate([updated.valid_from, new_from]),
        valid_to=np.concatenate([updated.valid_to, np.full(len(new_people), NEVER)]),
    )


def write(ctx: SourceContext, snapshots: list[tuple[date, OptOuts]]) -> list[Path]:
    """One snapshot delivery per (cut-off, register contents), CPRs as of `ctx.cutoff`."""
    return [
        _write(ctx, optouts, cutoff, f"{SOURCE}-{cutoff:%Y%m}") for cutoff, optouts in snapshots
    ]


def _alive_window(pop: Population) -> tuple[np.ndarray, np.ndarray]:
    """Days on which a person can register an opt-out: alive and not emigrated."""
    first = np.maximum(pop.birth, pop.in_day_or_past()).astype(np.int64)
    gone = np.where(pop.return_day == NEVER, pop.out_day, NEVER)
    last = np.minimum.reduce(
        [pop.death_day, pop.disappear_day, gone, np.full(pop.n, pop.cutoff, np.int32)]
    ).astype(np.int64)
    return first, last


def _write(ctx: SourceContext, optouts: OptOuts, cutoff: date, delivery_id: str) -> Path:
    o = np.lexsort((optouts.register, optouts.person, optouts.valid_from))
    table = pa.table(
        {
            "cpr": ctx.register.cpr.take(pa.array(optouts.person[o])),
            "register": pa.array(
                np.array(REGISTERS, dtype=object)[optouts.register[o]].tolist(), pa.string()
            ),
            "gyldig_fra": fmt_date(optouts.valid_from[o]),
            "gyldig_til": fmt_date(optouts.valid_to[o]),
        }
    )
    delivery = Delivery(ctx.landing, SOURCE, cutoff, delivery_id, since=ctx.since)
    delivery.csv("optout.csv", "optout", table, encoding=ENCODING)
    return delivery.close()
