"""The linked count cells of one product and indication, as an attacker can reason about them.

Every count Medicinrådet receives for one product and indication is a variable of one
linear system: each measure's treatment years add up to its total, and the measures nest
(complete responders ⊆ responders ⊆ response evaluable ⊆ followed through the response
window ⊆ patients; deaths ⊆ patients; CRS/ICANS grade ≥ 3 ⊆ toxicity evaluable ⊆ patients;
ICU ⊆ ICU evaluable ⊆ patients). A published survival estimate
at 1 or 2 years is treated as publishing the deaths by that horizon (without censoring
n × (1 − S) is exact), so those are variables too: events by 1 year ⊆ by 2 years ⊆ deaths.

A reader knows a shown count exactly, "<T" as 1..T−1, "≤T−1" as 0..T−1, "x" as at least
T (each marker is only ever put on such a count), and nothing from a blank survival
estimate (≥ 0). The feasible range of any cell — a count, or a complement such as
patients − deaths — is found by linear programming (HiGHS through scipy) over all of that at
once. Protection and the release audit both ask this one model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.optimize import linprog

TOTAL = "total"
MEASURES: tuple[str, ...] = (
    "patients_treated",
    "deaths",
    "response_followed",
    "response_evaluable",
    "responders",
    "complete_responders",
    "toxicity_evaluable",
    "crs_grade3plus",
    "icans_grade3plus",
    "icu_30d_evaluable",
    "icu_30d",
)
HORIZONS: dict[int, str] = {365: "events_365", 730: "events_730"}
# (outer, inner): inner ⊆ outer, and outer − inner is itself a count of persons (a cell).
NESTING: tuple[tuple[str, str], ...] = (
    ("patients_treated", "deaths"),
    ("patients_treated", "response_followed"),
    ("patients_treated", "response_evaluable"),
    ("response_followed", "response_evaluable"),
    ("response_evaluable", "responders"),
    ("responders", "complete_responders"),
    ("patients_treated", "toxicity_evaluable"),
    ("toxicity_evaluable", "crs_grade3plus"),
    ("toxicity_evaluable", "icans_grade3plus"),
    ("patients_treated", "icu_30d_evaluable"),
    ("patients_treated", "icu_30d"),
    ("icu_30d_evaluable", "icu_30d"),
    ("patients_treated", "events_365"),
    ("patients_treated", "events_730"),
    ("events_730", "events_365"),
    ("deaths", "events_730"),
)
_TOLERANCE = 1e-7

Key = tuple[str, str]  # (period, measure)
Terms = tuple[tuple[Key, int], ...]  # a linear expression over cells


class Marker(Enum):
    """How a cell is published, and so what a reader knows about it."""

    SHOWN = "shown"  # the exact count
    SMALL = "small"  # "<T": 1..T−1
    SUPPRESSED = "suppressed"  # "≤T−1": 0..T−1, where "<T" or 0 would give a cell away
    HIDDEN = "hidden"  # "x": at least T
    BLANK = "blank"  # nothing (an events cell behind a blank survival estimate)


@dataclass(frozen=True)
class Requirement:
    """What a reader must not be able to do with one cell: narrow its range so that it no
    longer reaches down to `reach_low` or up to `reach_high`, or to fewer than
    `min_width` + 1 values (`min_width` 1: not pinned). `showable` is a hidden cell that
    the requirement is only about because it is hidden (showing it is a remedy too)."""

    terms: Terms
    label: str
    reach_low: float | None = None
    reach_high: float | None = None
    min_width: float | None = None
    showable: Key | None = None


@dataclass(frozen=True)
class Range:
    """A cell's feasible range, with the bound sensitivities HiGHS reports for each end:
    the cells whose publication holds that end where it is."""

    low: float
    high: float
    low_binding: frozenset[Key]
    high_binding: frozenset[Key]


@dataclass(frozen=True)
class Failure:
    """A requirement the published cells break, with what the reader can work out."""

    requirement: Requirement
    range: Range

    def reason(self) -> str:
        """What a reader can work out about the cell."""
        low = _show(self.range.low)
        high = _show(self.range.high)
        if self.requirement.min_width == 1 and self.range.high <= self.range.low:
            return f"hidden but pinned to {low}"
        if self.requirement.min_width is not None:
            return f'a reader narrows it to {low}..{high} (fewer values than a "<T" cell keeps)'
        wanted = f"{_show(self.requirement.reach_low)}..{_show(self.requirement.reach_high)}"
        return f"a reader narrows it to {low}..{high} (must span {wanted})"

    def describe(self) -> str:
        return f"{self.requirement.label}: {self.reason()}"


def _show(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "∞"
    return str(round(value))


def expression_label(terms: Terms) -> str:
    """'2023 deaths' or '2023 patients_treated − deaths' for messages and findings."""
    period = terms[0][0][0]
    names = " − ".join(key[1] for key, _ in terms)
    return f"{period} {names}"


class LinkedTable:
    """The cells of one product and indication and the linear relations between them."""

    def __init__(self, periods: Sequence[str], keys: Iterable[Key]) -> None:
        self.periods = tuple(periods)
        self.keys: tuple[Key, ...] = tuple(sorted(set(keys)))
        self.index = {key: i for i, key in enumerate(self.keys)}
        self._equalities, self._inequalities = self._relations()

    def _relations(self) -> tuple[np.ndarray, np.ndarray]:
        """Years add up to the total (per measure); inner ≤ outer (per period)."""
        years = [p for p in self.periods if p != TOTAL]
        measures = sorted({m for _, m in self.keys})
        equalities = []
        if years and TOTAL in self.periods:
            for measure in measures:
                row = np.zeros(len(self.keys))
                for year in years:
                    if (year, measure) in self.index:
                        row[self.index[(year, measure)]] = 1
                if (TOTAL, measure) in self.index:
                    row[self.index[(TOTAL, measure)]] = -1
                    equalities.append(row)
        inequalities = []
        for period in self.periods:
            for outer, inner in NESTING:
                if (period, outer) in self.index and (period, inner) in self.index:
                    row = np.zeros(len(self.keys))
                    row[self.index[(period, inner)]] = 1
                    row[self.index[(period, outer)]] = -1
                    inequalities.append(row)
        width = len(self.keys)
        return (
            np.array(equalities).reshape(-1, width),
            np.array(inequalities).reshape(-1, width),
        )

    def complements(self) -> list[Terms]:
        """Every outer − inner difference that exists in this table (counts of persons too)."""
        return [
            (((period, outer), 1), ((period, inner), -1))
            for period in self.periods
            for outer, inner in NESTING
            if (period, outer) in self.index and (period, inner) in self.index
        ]

    def value(self, terms: Terms, values: Mapping[Key, int]) -> int:
        return sum(coefficient * values[key] for key, coefficient in terms)

    def feasible_range(
        self, terms: Terms, bounds: Mapping[Key, tuple[float, float | None]]
    ) -> Range:
        """Smallest and largest value of `terms` given the bounds and the relations."""
        objective = np.zeros(len(self.keys))
        for key, coefficient in terms:
            objective[self.index[key]] += coefficient
        box = [bounds[key] for key in self.keys]
        low, low_binding = self._optimise(objective, box)
        high, high_binding = self._optimise(-objective, box)
        return Range(low, -high, low_binding, high_binding)

    def _optimise(
        self, objective: np.ndarray, box: list[tuple[float, float | None]]
    ) -> tuple[float, frozenset[Key]]:
        """min objective·x; unbounded gives −∞. Binding: cells whose bound moves the optimum."""
        result = linprog(
            objective,
            A_ub=self._inequalities if len(self._inequalities) else None,
            b_ub=np.zeros(len(self._inequalities)) if len(self._inequalities) else None,
            A_eq=self._equalities if len(self._equalities) else None,
            b_eq=np.zeros(len(self._equalities)) if len(self._equalities) else None,
            bounds=box,
            method="highs",
        )
        if result.status == 3:
            return -math.inf, frozenset()
        if result.status != 0:
            raise ValueError(f"the published cells contradict each other ({result.message})")
        sensitivity = np.abs(result.lower.marginals) + np.abs(result.upper.marginals)
        binding = frozenset(k for k, s in zip(self.keys, sensitivity, strict=True) if s > 1e-9)
        return float(result.fun), binding

    def failures(
        self,
        requirements: Iterable[Requirement],
        bounds: Mapping[Key, tuple[float, float | None]],
    ) -> list[Failure]:
        """The requirements the published cells break."""
        found = []
        for requirement in requirements:
            found_range = self.feasible_range(requirement.terms, bounds)
            if _breaks(requirement, found_range):
                found.append(Failure(requirement, found_range))
        return found


def _breaks(requirement: Requirement, found: Range) -> bool:
    return bool(low_end_breaks(requirement, found) or high_end_breaks(requirement, found))


def low_end_breaks(requirement: Requirement, found: Range) -> bool:
    """The range's lower end is too high (or the range too narrow)."""
    narrow = requirement.min_width is not None and (
        found.high - found.low < requirement.min_width - _TOLERANCE
    )
    return narrow or (
        requirement.reach_low is not None and found.low > requirement.reach_low + _TOLERANCE
    )


def high_end_breaks(requirement: Requirement, found: Range) -> bool:
    """The range's upper end is too low (or the range too narrow)."""
    narrow = requirement.min_width is not None and (
        found.high - found.low < requirement.min_width - _TOLERANCE
    )
    return narrow or (
        requirement.reach_high is not None and found.high < requirement.reach_high - _TOLERANCE
    )


def reader_bounds(
    key: Key, marker: Marker, shown: int | None, threshold: int
) -> tuple[float, float | None]:
    """What a reader knows about one cell from how it is published (the definitions sheet
    says exactly this: "<T" is 1..T−1, "≤T−1" is 0..T−1 (a listed year had a patient),
    "x" at least T; a blank survival says nothing)."""
    if marker is Marker.SHOWN:
        assert shown is not None
        return (shown, shown)
    if marker is Marker.SMALL:
        return (1, threshold - 1)
    if marker is Marker.SUPPRESSED:
        return (1 if key[1] == "patients_treated" else 0, threshold - 1)
    if marker is Marker.HIDDEN:
        return (threshold, None)
    return (0, None)


def small_cell_requirements(
    table: LinkedTable, values: Mapping[Key, int], threshold: int
) -> list[Requirement]:
    """Every cell and complement holding 1..T−1 persons keeps as many possible values as
    "<T" gives (T−1): a count shown as "<T" keeps all of 1..T−1, a complement or a blank
    survival's deaths any T−1 consecutive values (two "<5" cells leave their difference
    in 0..3, which says no more than "<5")."""
    expressions: list[Terms] = [((key, 1),) for key in table.keys]
    expressions += table.complements()
    return [
        Requirement(terms, expression_label(terms), min_width=threshold - 2)
        if len(terms) > 1 or terms[0][0][1] in HORIZONS.values()
        else Requirement(terms, expression_label(terms), reach_low=1, reach_high=threshold - 1)
        for terms in expressions
        if 1 <= table.value(terms, values) <= threshold - 1
    ]


def difference_requirement(
    key: Key, value: int, previous: tuple[float, float], threshold: int
) -> Requirement | None:
    """Across releases the change of a cell is a cell too. `previous` is the range a reader
    had for it in the last release; publishing `value` exactly would make the change known
    to lie in 1..T−1 (or −(T−1)..−1) more precisely than that: then the new cell's range
    must keep the change spanning the whole of it."""
    before_low, before_high = previous
    change_low, change_high = value - before_high, value - before_low
    small = threshold - 1
    label = f"{key[0]} {key[1]} (change since the previous release)"
    if change_low >= 1 and change_high <= small and not (change_low <= 1 and change_high >= small):
        return Requirement(
            ((key, 1),), label, reach_low=before_high + 1, reach_high=before_low + small
        )
    if (
        -small <= change_low
        and change_high <= -1
        and not (change_low <= -small and change_high >= -1)
    ):
        return Requirement(
            ((key, 1),), label, reach_low=before_high - small, reach_high=before_low - 1
        )
    return None
