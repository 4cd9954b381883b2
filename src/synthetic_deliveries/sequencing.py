"""Who is whole-genome sequenced at the national genome centre, and from which sample.

The sequenced set is enriched for the treated cohort (the patients follow-up cares about),
then for familial hypercholesterolaemia (carriers and their first-degree relatives: cascade
testing is how FH genomes get made, so even a small demo sequences a carrier or two),
deliberately includes persons who have opted out (the platform must exclude them), and is
otherwise drawn from everyone present in Denmark. Each sequenced person gets one DNA sample
taken while they were in the country; the biobank writer assigns its sample id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.families import Families, build_families
from synthetic_deliveries.population import Population
from synthetic_deliveries.rng import stream

COHORT_SHARE = 0.3
OPTED_OUT_SHARE = 0.05
FH_SHARE = 0.03
FH_MIN = 2
"""Genomes per round for FH cascade testing: about 3 %, at least 2 (half carriers, half
first-degree relatives of a carrier, who are carriers or not)."""


@dataclass(frozen=True)
class SequencingPlan:
    """Sequenced persons in genome-id order (genome_id i+1 belongs to row i)."""

    person: np.ndarray
    day: np.ndarray
    minute: np.ndarray

    @property
    def genome_ids(self) -> list[str]:
        return [f"NGC{i + 1:07d}" for i in range(len(self.person))]


def plan_sequencing(
    rng: np.random.Generator,
    pop: Population,
    cohort: list[Treatment],
    opted_out: np.ndarray,
    genomes: int,
    *,
    since: int | None = None,
    done: np.ndarray | None = None,
) -> SequencingPlan:
    """Sample `genomes` persons, each from a day they were present up to `pop.cutoff`.

    A later month of the same world passes `since` (the previous cut-off: only samples
    taken after it) and `done` (persons sequenced in earlier months, not sampled again).
    """
    first, last = pop.window()
    if since is not None:
        first = np.maximum(first, since + 1)
    present = first <= last
    if done is not None:
        present[done] = False
    chosen: list[int] = []
    days: list[int] = []

    # Treated patients give a sample between diagnosis and treatment, while present.
    treated = [
        tr
        for tr in cohort
        if tr.person >= 0
        and not tr.abroad
        and present[tr.person]
        and max(tr.diagnosis_day, first[tr.person]) <= last[tr.person]
    ]
    take = min(len(treated), math.ceil(COHORT_SHARE * genomes))
    for k in rng.permutation(len(treated))[:take]:
        tr = treated[int(k)]
        lo = max(tr.diagnosis_day, int(first[tr.person]))
        hi = min(max(lo, tr.treatment_day - 7), int(last[tr.person]))
        chosen.append(tr.person)
        days.append(int(rng.integers(lo, hi + 1)))

    taken = ~present
    taken[chosen] = True
    cascade = _cascade(pop, taken, min(_fh_slots(genomes), genomes - len(chosen)), since)
    taken[cascade] = True
    candidates = np.unique(opted_out[present[opted_out]])
    candidates = candidates[~taken[candidates]]
    room = genomes - len(chosen) - len(cascade)
    take = min(len(candidates), max(1, round(OPTED_OUT_SHARE * genomes)), room)
    extra = rng.choice(candidates, size=take, replace=False) if take > 0 else np.zeros(0, np.int64)
    taken[extra] = True

    pool = np.flatnonzero(present & ~taken)
    take = min(len(pool), room - len(extra))
    rest = rng.choice(pool, size=take, replace=False) if take > 0 else np.zeros(0, np.int64)
    others = np.concatenate([cascade, extra, rest]).astype(np.int64)
    other_days = first[others] + np.floor(
        rng.random(len(others)) * (last[others].astype(np.int64) - first[others] + 1)
    ).astype(np.int64)

    person = np.concatenate([np.array(chosen, np.int64), others])
    day = np.concatenate([np.array(days, np.int64), other_days])
    order = np.lexsort((person, day))
    return SequencingPlan(
        person=person[order], day=day[order], minute=rng.integers(420, 960, len(person))
    )


def _fh_slots(genomes: int) -> int:
    return max(FH_MIN, round(FH_SHARE * genomes)) if genomes else 0


def _cascade(pop: Population, taken: np.ndarray, slots: int, since: int | None) -> np.ndarray:
    """Up to `slots` persons not yet `taken`: half (rounded up) FH carriers, the rest
    first-degree relatives of a carrier (parent, child, sibling; carriers themselves or
    not), more carriers when relatives run short. Drawn from a stream of the world's
    families per round, so the shared sequencing stream and the treated cohort's picks
    stay as they were."""
    if slots <= 0:
        return np.zeros(0, np.int64)
    families = build_families(pop)
    rng = stream(pop.family_seed, f"sequencing:fh:{since}")
    free = ~taken
    carriers = rng.permutation(np.flatnonzero(families.carrier & free))
    index_cases = carriers[: (slots + 1) // 2]
    related = _carrier_relatives(families) & free
    related[index_cases] = False
    relatives = rng.permutation(np.flatnonzero(related))[: slots - len(index_cases)]
    more = carriers[len(index_cases) :]
    more = more[~np.isin(more, relatives)][: slots - len(index_cases) - len(relatives)]
    return np.concatenate([index_cases, relatives, more]).astype(np.int64)


def _carrier_relatives(families: Families) -> np.ndarray:
    """Mask of persons with a first-degree relative (parent, child, full or half sibling)
    who carries the FH variant."""
    carrier = families.carrier
    n = len(carrier)
    related = np.zeros(n, bool)
    for parent in (families.mother, families.father):
        known = parent >= 0
        of = np.maximum(parent, 0)
        related |= known & carrier[of]  # a carrier parent
        related[parent[known & carrier]] = True  # a carrier child
        carrier_children = np.zeros(n, np.int64)
        np.add.at(carrier_children, parent[known & carrier], 1)
        others = carrier_children[of] - carrier.astype(np.int64)  # not counting oneself
        related |= known & (others > 0)  # a carrier sibling through this parent
    return related
