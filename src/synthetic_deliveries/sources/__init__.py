"""One writer per national source; each turns the spine, the cohort truth and background
activity into the files of its delivery folder and returns that folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.cohort_records import CohortRecords
from synthetic_deliveries.danish_csv import day_number
from synthetic_deliveries.delivery import Delivery
from synthetic_deliveries.population import Population
from synthetic_deliveries.rng import stream


@dataclass(frozen=True)
class SourceContext:
    """Everything a source writer may read. Each source draws from its own random stream.

    `pop` is the whole simulated world (it may run past `cutoff` when this is one month of
    several): writers draw every event from it, so each month sees the same events, and
    pass each row's day to the delivery, which keeps the month's rows. `since` is the
    previous month's cut-off, None for a first or only delivery.
    """

    landing: Path
    seed: int
    cutoff: date
    pop: Population
    cohort: list[Treatment]
    records: CohortRecords
    since: date | None = None

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, f"source:{name}")

    def delivery(self, source: str, delivery_id: str | None = None) -> Delivery:
        return Delivery(self.landing, source, self.cutoff, delivery_id, since=self.since)

    @property
    def register(self) -> Population:
        """The CPR register as it stood on the cut-off (the world itself when they agree)."""
        return self.pop.as_of(day_number(self.cutoff))
