"""One writer per national source; each turns the spine, the cohort truth and background
activity into the files of its delivery folder and returns that folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.cohort_records import CohortRecords
from synthetic_deliveries.population import Population
from synthetic_deliveries.rng import stream


@dataclass(frozen=True)
class SourceContext:
    """Everything a source writer may read. Each source draws from its own random stream."""

    landing: Path
    seed: int
    cutoff: date
    pop: Population
    cohort: list[Treatment]
    records: CohortRecords

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, f"source:{name}")
