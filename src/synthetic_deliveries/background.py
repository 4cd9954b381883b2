"""Background registry activity shared by the source writers.

Registries are mostly about people who are *not* in the treated cohort; this module draws
when ordinary persons show up (Poisson counts over each person's time in Denmark, uniform
days within it) so every source uses the same notion of presence, and marks the persons
with familial hypercholesterolaemia so LPR3, prescriptions and LDL results agree.
"""

from __future__ import annotations

import numpy as np

from synthetic_deliveries.population import YEAR, Population
from synthetic_deliveries.rng import stream


def draw_events(
    rng: np.random.Generator, pop: Population, rate_per_year: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(person index, day) of events at `rate_per_year` while each person is present."""
    first, last = pop.window()
    span = np.maximum(last.astype(np.int64) - first + 1, 0)
    counts = rng.poisson(np.asarray(rate_per_year) * span / YEAR)
    person = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
    day = first[person] + np.floor(rng.random(len(person)) * span[person]).astype(np.int64)
    return person, day.astype(np.int32)


def age_at_midpoint(pop: Population) -> np.ndarray:
    """Each person's age (years) in the middle of their presence: drives activity rates."""
    first, last = pop.window()
    return np.maximum(0.0, ((first.astype(np.int64) + last) / 2 - pop.birth) / YEAR)


def familial_hypercholesterolaemia(seed: int, pop: Population) -> np.ndarray:
    """Mask of adults with FH (about 1 in 250), shared by LPR3, prescriptions and lab."""
    rng = stream(seed, "familial_hypercholesterolaemia")
    adult = (pop.cutoff - pop.birth) / YEAR >= 25
    return adult & (rng.random(pop.n) < 0.004)
