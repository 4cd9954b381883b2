"""Cumulative-incidence curves (Aalen–Johansen, death as the competing risk) that reveal no
small count, under the rules of the Kaplan–Meier curves (`curves`).

A rise of a cumulative incidence is a count of events, as a drop of survival is a count of
deaths: a rise is published only when it holds at least T events and at least T persons are
still at risk after it; smaller rises are merged into the next publishable one. Points are
given every 30 days while at least T are at risk. Numbers at risk are not published: the
risk set of an event type (alive, followed, without the event) differs from the
Kaplan–Meier one (alive, followed) by the persons who had the event and live on, a count
that can be small. The estimate is the one dbt's macro `aalen_johansen` computes for
marts.agg_cumulative_incidence (tied times exact, delta-method variance, log(−log) interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from medicinraadet_release.curves import GRID_DAYS, Z

Subjects = Sequence[tuple[int, int]]  # (time in days, 0 censored / 1 the event / 2 competing)


@dataclass(frozen=True)
class IncidenceStep:
    """The Aalen–Johansen estimate just after one distinct time with an event of any kind."""

    time: int
    at_risk: int
    events: int
    competing: int
    incidence: float
    ci_lower: float
    ci_upper: float


def aalen_johansen(subjects: Subjects) -> list[IncidenceStep]:
    """Steps at every time with the event or the competing event. Variance by the delta
    method (the terms of dbt/macros/aalen_johansen.sql, summed directly)."""
    times = sorted({t for t, code in subjects if code})
    table = []  # (time, at risk, events, competing, all-cause survival just before)
    survival = 1.0
    for time in times:
        at_risk = sum(1 for t, _ in subjects if t >= time)
        events = sum(1 for t, code in subjects if t == time and code == 1)
        competing = sum(1 for t, code in subjects if t == time and code == 2)
        table.append((time, at_risk, events, competing, survival))
        survival *= 1 - (events + competing) / at_risk
    steps: list[IncidenceStep] = []
    incidences: list[float] = []
    incidence = 0.0
    for time, at_risk, events, competing, before in table:
        incidence += before * events / at_risk
        incidences.append(incidence)
        variance = _variance(table, incidences, incidence)
        steps.append(
            IncidenceStep(
                time, at_risk, events, competing, incidence, *_interval(incidence, variance)
            )
        )
    return steps


def _variance(
    table: Sequence[tuple[int, int, int, int, float]], incidences: Sequence[float], now: float
) -> float:
    """Delta-method variance of the incidence `now` over the times so far."""
    variance = 0.0
    for (_, n, d1, d2, before), at_u in zip(table, incidences, strict=False):
        gap = now - at_u
        d = d1 + d2
        if d < n:
            variance += gap**2 * d / (n * (n - d))
        variance += before**2 * d1 * (n - d1) / n**3
        variance -= 2 * gap * before * d1 / n**2
    return max(variance, 0.0)


def _interval(incidence: float, variance: float) -> tuple[float, float]:
    if incidence <= 0:
        return (0.0, 0.0)
    if incidence >= 1:
        return (1.0, 1.0)
    log_f = math.log(incidence)
    spread = Z * math.sqrt(variance) / (incidence * log_f)
    centre = math.log(-log_f)
    return (math.exp(-math.exp(centre - spread)), math.exp(-math.exp(centre + spread)))


def published_rises(steps: Sequence[IncidenceStep], threshold: int) -> list[IncidenceStep]:
    """The rises a curve may show: each holds ≥ T events since the last one shown and leaves
    ≥ T at risk (smaller rises wait for the next publishable step)."""
    chosen = []
    pending = 0
    for step in steps:
        pending += step.events
        if pending >= threshold and step.at_risk - step.events - step.competing >= threshold:
            chosen.append(step)
            pending = 0
    return chosen


def incidence_rows(subjects: Subjects, threshold: int) -> list[tuple[int, float, float, float]]:
    """(day, cumulative incidence, lower, upper) every 30 days while at least T are at risk."""
    chosen = published_rises(aalen_johansen(subjects), threshold)
    rows = []
    last_time = max((t for t, _ in subjects), default=0)
    for day in range(0, last_time + 1, GRID_DAYS):
        if sum(1 for t, _ in subjects if t >= day) < threshold:
            break
        before = [s for s in chosen if s.time <= day]
        step = before[-1] if before else None
        rows.append(
            (day, *((step.incidence, step.ci_lower, step.ci_upper) if step else (0.0,) * 3))
        )
    return rows
