"""The unprotected counts behind a release, read from the engineers' schema.

dbt prepares them in `staging` (int_medicinraadet_counts, int_medicinraadet_survival,
int_survival_subjects, int_atmp_competing_events), which researchers and Medicinrådet cannot read; only the release
step reads them, protects them and writes the protected tables into `exports`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

from medicinraadet_release.cells import HORIZONS, TOTAL, Key

STAGING = "staging"
Group = tuple[str, str]  # (product_code, indication_group)


@dataclass(frozen=True)
class Horizon:
    """Kaplan–Meier overall survival of one period at 1 or 2 years."""

    survival: float | None
    ci_lower: float | None
    ci_upper: float | None
    reached: bool
    at_risk: int


@dataclass
class GroupTruth:
    """Everything true about one product and indication that the release summarises."""

    periods: list[str] = field(default_factory=list)
    values: dict[Key, int] = field(default_factory=dict)
    horizons: dict[tuple[str, int], Horizon] = field(default_factory=dict)
    subjects: list[tuple[int, int]] = field(default_factory=list)  # total: (days, died)
    # per competing-risk event type: (days, 0 censored / 1 the event / 2 the competing event)
    incidence: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def ordered_periods(self) -> list[str]:
        """Years in order, then the total."""
        return [*sorted(p for p in self.periods if p != TOTAL), TOTAL]


def read_truth(conn: psycopg.Connection) -> dict[Group, GroupTruth]:
    """Counts, survival at the horizons and the survival subjects of every group."""
    groups: dict[Group, GroupTruth] = defaultdict(GroupTruth)
    for product, indication, measure, period, n in conn.execute(
        f"select product_code, indication_group, measure, period, n "
        f"from {STAGING}.int_medicinraadet_counts"
    ):
        truth = groups[(product, indication)]
        truth.values[(period, measure)] = int(n)
        if period not in truth.periods:
            truth.periods.append(period)
    subjects: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for product, indication, period, days, died in conn.execute(
        f"select product_code, indication_group, period, os_time_days, os_event "
        f"from {STAGING}.int_survival_subjects where os_time_days is not null"
    ):
        subjects[(product, indication, period)].append((int(days), int(died)))
    for (
        product,
        indication,
        period,
        horizon,
        events,
        survival,
        lower,
        upper,
        reached,
    ) in conn.execute(
        f"select product_code, indication_group, period, horizon_day, cumulative_events, "
        f"survival, ci_lower, ci_upper, horizon_reached from {STAGING}.int_medicinraadet_survival"
    ):
        truth = groups[(product, indication)]
        at_risk = sum(1 for t, _ in subjects[(product, indication, period)] if t >= horizon)
        truth.values[(period, HORIZONS[horizon])] = int(events)
        truth.horizons[(period, horizon)] = Horizon(survival, lower, upper, bool(reached), at_risk)
    for product, indication, event_type, days, code in conn.execute(
        f"select product_code, indication_group, event_type, time_days, event_code "
        f"from {STAGING}.int_atmp_competing_events where time_days is not null"
    ):
        if (product, indication) in groups:
            incidence = groups[(product, indication)].incidence
            incidence.setdefault(event_type, []).append((int(days), int(code)))
    for (product, indication), truth in groups.items():
        for period in truth.periods:
            for horizon, measure in HORIZONS.items():
                # no Kaplan-Meier row at the horizon: nobody in the period has been followed
                truth.values.setdefault((period, measure), 0)
                truth.horizons.setdefault((period, horizon), Horizon(None, None, None, False, 0))
        truth.subjects = subjects[(product, indication, TOTAL)]
    return dict(groups)
