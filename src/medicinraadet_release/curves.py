"""Kaplan–Meier curves that reveal no small count.

A curve shows where survival drops, and a drop is a count: S falling from 0.5000 to 0.3333
with 3 at risk is one death. So a drop is published only when it holds at least T deaths
and at least T persons are still at risk after it; smaller drops are merged into the next
publishable one. Drops are merged within the years of follow-up (0–1, 1–2, over 2 years)
and a remainder is folded back into the year's last drop, so that the curve passes
exactly through the 1- and 2-year survival the summary table gives whenever that year held
0 or ≥ T deaths. The deaths after the last drop (the total's deaths minus the curve's) are
0 or ≥ T too: otherwise the last drop is left out. Numbers at risk are shown only while at least T are at risk, and only
where they changed by 0 or ≥ T since the last one shown (a change is a count of persons
who died or left follow-up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm

GRID_DAYS = 30
SEGMENT_ENDS = (365, 730)
Z = float(norm.ppf(0.975))


@dataclass(frozen=True)
class Step:
    """The Kaplan–Meier estimate just after one distinct event time."""

    time: int
    at_risk: int
    events: int
    survival: float
    ci_lower: float
    ci_upper: float


def kaplan_meier(subjects: Sequence[tuple[int, int]]) -> list[Step]:
    """Steps at every time with a death, as lifelines computes them (Greenwood variance,
    log(−log) confidence interval). `subjects`: (time in days, 1 if died else 0)."""
    steps = []
    survival, variance = 1.0, 0.0
    for time in sorted({t for t, e in subjects if e}):
        at_risk = sum(1 for t, _ in subjects if t >= time)
        events = sum(1 for t, e in subjects if t == time and e)
        survival *= 1 - events / at_risk
        if events < at_risk:
            variance += events / (at_risk * (at_risk - events))
        steps.append(Step(time, at_risk, events, survival, *_interval(survival, variance)))
    return steps


def _interval(survival: float, variance: float) -> tuple[float, float]:
    if survival <= 0:
        return (0.0, 0.0)
    if survival >= 1:
        return (1.0, 1.0)
    log_s = math.log(survival)
    spread = Z * math.sqrt(variance) / log_s
    centre = math.log(-log_s)
    return (math.exp(-math.exp(centre - spread)), math.exp(-math.exp(centre + spread)))


def published_steps(steps: Sequence[Step], threshold: int) -> list[Step]:
    """The drops a curve may show (see the module docstring)."""
    chosen: list[Step] = []
    pending = 0
    segment_start: float = 0
    for i, step in enumerate(steps):
        survivors = step.at_risk - step.events
        pending += step.events
        if pending >= threshold and survivors >= threshold:
            chosen.append(step)
            pending = 0
        next_time = steps[i + 1].time if i + 1 < len(steps) else math.inf
        end = _segment_end(step.time)
        closes_segment = next_time > end
        folds_back = chosen and chosen[-1].time > segment_start
        if closes_segment and pending and survivors >= threshold and folds_back:
            chosen[-1] = step
            pending = 0
        if closes_segment:
            segment_start = end
    if chosen and 1 <= pending < threshold:
        chosen.pop()  # the deaths after the last drop (total deaths − drops) would be small
    return chosen


def _segment_end(time: int) -> float:
    return next((end for end in SEGMENT_ENDS if time <= end), math.inf)


def survival_at(chosen: Sequence[Step], day: float) -> Step | None:
    """The last published drop at or before `day` (None: the curve is still at 1)."""
    before = [s for s in chosen if s.time <= day]
    return before[-1] if before else None


def curve_rows(
    subjects: Sequence[tuple[int, int]], threshold: int
) -> list[tuple[int, int | None, float, float, float]]:
    """(day, number at risk or None, survival, lower, upper) every 30 days while at least
    T are at risk."""
    chosen = published_steps(kaplan_meier(subjects), threshold)
    rows: list[tuple[int, int | None, float, float, float]] = []
    last_shown: int | None = None
    last_time = max((t for t, _ in subjects), default=0)
    for day in range(0, last_time + 1, GRID_DAYS):
        at_risk = sum(1 for t, _ in subjects if t >= day)
        if at_risk < threshold:
            break
        change = None if last_shown is None else last_shown - at_risk
        shown = at_risk if change is None or change == 0 or change >= threshold else None
        if shown is not None:
            last_shown = shown
        step = survival_at(chosen, day)
        if step is None:
            rows.append((day, shown, 1.0, 1.0, 1.0))
        else:
            rows.append((day, shown, step.survival, step.ci_lower, step.ci_upper))
    return rows
