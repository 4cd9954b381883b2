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
patients − deaths — is found by linear programming over all of that at once. Protection and
the release audit both ask this one model, thousands of times per release: a `Reader` holds
one HiGHS model per table and set of bounds and only changes its objective between
questions (HiGHS re-solves from the previous basis), instead of building and validating a
new problem through scipy's `linprog` for each.

The same reasoning serves any table of person counts by period: a `LinkedTable` takes its
nesting pairs (by default Medicinrådet's `NESTING`) and the cells a reader knows are at
least 1, so the actionable pharmacogenetic exposures (`pgx`: exposures ⊇ persons, years
summing to the total) are protected and audited by exactly this model.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import highspy
import numpy as np

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
    """The cells of one group (a product and indication, or any table of counts by period)
    and the linear relations between them.

    `nesting` are the (outer, inner) measure pairs with inner ⊆ outer in every period, and
    so outer − inner a count a reader can work out (a complement); by default Medicinrådet's
    `NESTING`. `positive` are the cells a reader knows hold at least 1 from the row being
    listed at all; by default each period's patients_treated (a listed treatment year had a
    patient). It only matters for "≤T−1": such a cell is read as 1..T−1, not 0..T−1."""

    def __init__(
        self,
        periods: Sequence[str],
        keys: Iterable[Key],
        nesting: Sequence[tuple[str, str]] = NESTING,
        *,
        positive: Iterable[Key] | None = None,
    ) -> None:
        self.periods = tuple(periods)
        self.keys: tuple[Key, ...] = tuple(sorted(set(keys)))
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.nesting = tuple(nesting)
        self.positive = frozenset(
            (k for k in self.keys if k[1] == "patients_treated") if positive is None else positive
        )
        self._equalities, self._inequalities = self._relations()

    def bounds(
        self, key: Key, marker: Marker, shown: int | None, threshold: int
    ) -> tuple[float, float | None]:
        """What a reader knows about one cell of this table from how it is published."""
        return reader_bounds(key, marker, shown, threshold, positive=key in self.positive)

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
            for outer, inner in self.nesting:
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
            for outer, inner in self.nesting
            if (period, outer) in self.index and (period, inner) in self.index
        ]

    def value(self, terms: Terms, values: Mapping[Key, int]) -> int:
        return sum(coefficient * values[key] for key, coefficient in terms)

    def feasible_range(
        self, terms: Terms, bounds: Mapping[Key, tuple[float, float | None]]
    ) -> Range:
        """Smallest and largest value of `terms` given the bounds and the relations."""
        return self.reader(bounds).range(terms)

    def reader(self, bounds: Mapping[Key, tuple[float, float | None]]) -> Reader:
        """The reader's model of this table under `bounds`, to ask many questions of."""
        return Reader(self, bounds)

    def failures(
        self,
        requirements: Iterable[Requirement],
        bounds: Mapping[Key, tuple[float, float | None]],
    ) -> list[Failure]:
        """The requirements the published cells break."""
        found = []
        reader = self.reader(bounds)
        for requirement in requirements:
            found_range = reader.range(requirement.terms)
            if _breaks(requirement, found_range):
                found.append(Failure(requirement, found_range))
        return found


_banner_shown = False


def _new_highs() -> highspy.Highs:
    """A silent HiGHS instance. The first one made in a process prints HiGHS's banner from
    C++ straight to file descriptor 1, past Python's sys.stdout, where it would end up in
    the CLI's output and the task logs: that one is made with descriptor 1 on /dev/null."""
    global _banner_shown
    if _banner_shown:
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 1)
                highs = highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    highs.setOptionValue("output_flag", False)
    return highs


class Reader:
    """One HiGHS model of a linked table under one set of cell bounds: the relations as
    rows, the bounds as column bounds. Each question only replaces the objective."""

    def __init__(
        self, table: LinkedTable, bounds: Mapping[Key, tuple[float, float | None]]
    ) -> None:
        self.keys = table.keys
        width = len(self.keys)
        relations = [table._equalities, table._inequalities]
        matrix = np.vstack([r for r in relations if len(r)] or [np.zeros((0, width))])
        equal = len(table._equalities)
        model = highspy.HighsLp()
        model.num_col_ = width
        model.num_row_ = len(matrix)
        model.col_cost_ = np.zeros(width)
        model.col_lower_ = np.array([bounds[k][0] for k in self.keys], dtype=float)
        model.col_upper_ = np.array(
            [highspy.kHighsInf if bounds[k][1] is None else bounds[k][1] for k in self.keys],
            dtype=float,
        )
        # equalities: row = 0; inequalities: row <= 0
        model.row_lower_ = np.array(
            [0.0] * equal + [-highspy.kHighsInf] * (len(matrix) - equal), dtype=float
        )
        model.row_upper_ = np.zeros(len(matrix))
        columns = matrix.T
        starts, indices, values = [0], [], []
        for column in columns:
            (rows,) = np.nonzero(column)
            indices.extend(rows.tolist())
            values.extend(column[rows].tolist())
            starts.append(len(indices))
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        model.a_matrix_.index_ = np.array(indices, dtype=np.int32)
        model.a_matrix_.value_ = np.array(values, dtype=float)
        self._highs = _new_highs()
        self._highs.passModel(model)
        self._columns = np.arange(width, dtype=np.int32)
        self._index = table.index

    def range(self, terms: Terms) -> Range:
        """Smallest and largest value of `terms`."""
        objective = np.zeros(len(self.keys))
        for key, coefficient in terms:
            objective[self._index[key]] += coefficient
        low, low_binding = self._minimise(objective)
        high, high_binding = self._minimise(-objective)
        return Range(low, -high, low_binding, high_binding)

    def _minimise(self, objective: np.ndarray) -> tuple[float, frozenset[Key]]:
        """min objective·x; unbounded gives −∞. Binding: cells whose bound moves the optimum
        (a non-zero reduced cost)."""
        highs = self._highs
        highs.changeColsCost(len(objective), self._columns, objective)
        highs.run()
        status = highs.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return -math.inf, frozenset()
        if status != highspy.HighsModelStatus.kOptimal:
            if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
                # presolve could not tell: the relations are homogeneous and the published
                # cells are never contradictory when they come from real counts, so ask again
                # without presolve to tell unbounded from infeasible
                highs.setOptionValue("presolve", "off")
                highs.run()
                highs.setOptionValue("presolve", "choose")
                status = highs.getModelStatus()
                if status == highspy.HighsModelStatus.kUnbounded:
                    return -math.inf, frozenset()
            if status != highspy.HighsModelStatus.kOptimal:
                raise ValueError(
                    "the published cells contradict each other "
                    f"({highs.modelStatusToString(status)})"
                )
        duals = np.asarray(highs.getSolution().col_dual)
        binding = frozenset(k for k, d in zip(self.keys, duals, strict=True) if abs(d) > 1e-9)
        return float(highs.getInfo().objective_function_value), binding


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
    key: Key,
    marker: Marker,
    shown: int | None,
    threshold: int,
    *,
    positive: bool | None = None,
) -> tuple[float, float | None]:
    """What a reader knows about one cell from how it is published (the definitions sheet
    says exactly this: "<T" is 1..T−1, "≤T−1" is 0..T−1 (1..T−1 for a `positive` cell,
    by default patients_treated: a listed year had a patient), "x" at least T; a blank
    survival says nothing)."""
    if positive is None:
        positive = key[1] == "patients_treated"
    if marker is Marker.SHOWN:
        assert shown is not None
        return (shown, shown)
    if marker is Marker.SMALL:
        return (1, threshold - 1)
    if marker is Marker.SUPPRESSED:
        return (1 if positive else 0, threshold - 1)
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
