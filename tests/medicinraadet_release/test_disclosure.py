"""Disclosure control against an attacker, without a warehouse: each attack the issue names
(a hidden cell pinned by its total, a small complement, survival implying deaths, a small
Kaplan–Meier drop, the difference of two releases) is a hand-made table on which the old
publication fails the audit and the protected one passes it; random tables always pass
the audit after protection. Cumulative-incidence curves: the estimate equals
scikit-survival's Aalen–Johansen, every published rise holds at least T events (an
unmerged curve fails the audit), points stop before fewer than T are at risk."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sksurv.nonparametric import cumulative_incidence_competing_risks

from medicinraadet_release.audit import (
    CURVES,
    INCIDENCE,
    SUMMARY,
    audit_release,
    reader_ranges,
)
from medicinraadet_release.cells import (
    HORIZONS,
    MEASURES,
    TOTAL,
    LinkedTable,
    Marker,
    reader_bounds,
    small_cell_requirements,
)
from medicinraadet_release.curves import curve_rows, kaplan_meier
from medicinraadet_release.exports import (
    CURVE_COLUMNS,
    INCIDENCE_COLUMNS,
    LABEL_COLUMNS,
    protect_tables,
)
from medicinraadet_release.incidence import aalen_johansen, incidence_rows
from medicinraadet_release.inputs import Group, GroupTruth, Horizon
from medicinraadet_release.protection import protect
from medicinraadet_release.tables import ExportTable

CUTOFF = date(2026, 9, 30)
GROUP: Group = ("P", "I")
SUMMARY_COLUMNS = (
    *LABEL_COLUMNS,
    *MEASURES,
    "response_rate_treated",
    "response_rate",
    "complete_response_rate_treated",
    "complete_response_rate",
    "crs_grade3plus_rate",
    "icans_grade3plus_rate",
    "icu_30d_rate",
    *(f"os_{y}y{s}" for y in (1, 2) for s in ("", "_ci_lower", "_ci_upper")),
)


@dataclass(frozen=True)
class Person:
    year: str
    days: int
    died: bool
    evaluable: bool = True
    responder: bool = False
    complete: bool = False
    graded: bool = True
    crs3: bool = False
    icans3: bool = False
    icu: bool = False
    followed: bool = True  # through the response window (evaluable ones always are)
    icu_evaluable: bool = True

    def counts(self) -> dict[str, int]:
        return {
            "patients_treated": 1,
            "deaths": int(self.died),
            "response_followed": int(self.followed),
            "response_evaluable": int(self.evaluable),
            "responders": int(self.responder),
            "complete_responders": int(self.complete),
            "toxicity_evaluable": int(self.graded),
            "crs_grade3plus": int(self.crs3),
            "icans_grade3plus": int(self.icans3),
            "icu_30d_evaluable": int(self.icu_evaluable),
            "icu_30d": int(self.icu),
        }


def truth_of(persons: list[Person]) -> GroupTruth:
    """Counts, survival at the horizons and subjects, computed from persons as dbt does."""
    truth = GroupTruth()
    years = sorted({p.year for p in persons})
    for period in [*years, TOTAL]:
        members = [p for p in persons if period in (TOTAL, p.year)]
        truth.periods.append(period)
        for measure in MEASURES:
            truth.values[(period, measure)] = sum(p.counts()[measure] for p in members)
        subjects = [(p.days, int(p.died)) for p in members]
        steps = kaplan_meier(subjects)
        for horizon, measure in HORIZONS.items():
            before = [s for s in steps if s.time <= horizon]
            last = before[-1] if before else None
            survival = last.survival if last else 1.0
            truth.values[(period, measure)] = sum(e for t, e in subjects if e and t <= horizon)
            truth.horizons[(period, horizon)] = Horizon(
                survival,
                last.ci_lower if last else 1.0,
                last.ci_upper if last else 1.0,
                max(t for t, _ in subjects) >= horizon or survival == 0,
                sum(1 for t, _ in subjects if t >= horizon),
            )
    truth.subjects = [(p.days, int(p.died)) for p in persons]
    return truth


def labels_of(truth: dict[Group, GroupTruth]) -> list[dict[str, Any]]:
    return [
        {
            "product_code": g[0],
            "product_name": g[0],
            "indication_group": g[1],
            "indication_label": g[1],
            "period": period,
            "cutoff_date": CUTOFF,
        }
        for g, t in truth.items()
        for period in t.periods
    ]


def release_of(
    truth: dict[Group, GroupTruth], threshold: int = 5, previous: dict | None = None
) -> list[ExportTable]:
    tables, _ = protect_tables(
        truth,
        labels_of(truth),
        SUMMARY_COLUMNS,
        cutoff=CUTOFF,
        threshold=threshold,
        previous=previous or {},
    )
    return tables


def summary_of(tables: list[ExportTable]) -> dict[str, dict[str, Any]]:
    table = next(t for t in tables if t.name == SUMMARY)
    return {r["period"]: r for r in table.records()}


def with_cell(tables: list[ExportTable], period: str, column: str, value: Any) -> list[ExportTable]:
    """The same release with one summary cell replaced (the old publication of it)."""
    out = []
    for table in tables:
        if table.name == SUMMARY:
            index = table.columns.index(column)
            rows = tuple(
                (*r[:index], value, *r[index + 1 :])
                if r[table.columns.index("period")] == period
                else r
                for r in table.rows
            )
            table = ExportTable(table.name, table.columns, rows)
        out.append(table)
    return out


def range_of(
    markers: dict, values: dict, periods: list[str], terms: tuple, threshold: int = 5
) -> tuple[float, float]:
    table = LinkedTable(periods, markers)
    bounds = {k: reader_bounds(k, m, values[k], threshold) for k, m in markers.items()}
    found = table.feasible_range(terms, bounds)
    return found.low, found.high


# -- a hidden cell pinned by its total ----------------------------------------------------


@pytest.mark.parametrize(
    ("years", "old"),
    [
        # the example: "<5, x, 5, 9, 21" forces x = 5 and so "<5" = 2
        ([2, 5, 5, 9], [Marker.SMALL, Marker.HIDDEN, Marker.SHOWN, Marker.SHOWN]),
        # every part hidden (the old fallback), total 17: x = 5 and each "<5" = 1
        ([1, 1, 5, 5, 5], [Marker.SMALL] * 2 + [Marker.HIDDEN] * 3),
    ],
)
def test_a_small_year_is_not_pinned_by_the_total(years: list[int], old: list[Marker]) -> None:
    periods = [str(2020 + i) for i in range(len(years))] + [TOTAL]
    values = dict(
        zip([(p, "complete_responders") for p in periods], [*years, sum(years)], strict=True)
    )
    old_markers = dict(zip(values, [*old, Marker.SHOWN], strict=True))
    small = ((periods[0], "complete_responders"), 1)
    low, high = range_of(old_markers, values, periods, (small,))
    assert high < 4  # narrowed: 1..2 in the first example, pinned to 1 in the second

    table = LinkedTable(periods, values)
    markers = protect(table, values, 5)
    assert markers[(periods[0], "complete_responders")] is Marker.SMALL
    low, high = range_of(markers, values, periods, (small,))
    assert low <= 1 and high >= 4
    bounds = {k: reader_bounds(k, m, values[k], 5) for k, m in markers.items()}
    assert table.failures(small_cell_requirements(table, values, 5), bounds) == []


# -- a small complement -------------------------------------------------------------------


def test_a_complement_of_one_person_is_not_given_away() -> None:
    """Evaluable 7, responders 6: one non-responder, published as two plain numbers before."""
    persons = [Person("2024", 900, False, responder=i < 6, evaluable=i < 7) for i in range(12)]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    row = summary_of(tables)[TOTAL]
    assert not (row["response_evaluable"].isdigit() and row["responders"].isdigit())
    leaked = with_cell(
        with_cell(tables, TOTAL, "responders", "6"), TOTAL, "response_evaluable", "7"
    )
    leaked = with_cell(
        with_cell(leaked, "2024", "responders", "6"), "2024", "response_evaluable", "7"
    )
    findings = audit_release(leaked, truth, 5, {})
    assert any("response_evaluable − responders" in f.cell for f in findings)


def test_deaths_before_any_assessment_are_a_protected_complement() -> None:
    """Both response denominators: 12 followed through the window, 10 of them assessed. The
    2 who died before any assessment (followed − evaluable) are a count of persons too, so
    the two denominators are not both shown, and the all-treated rate only beside its
    counts."""
    persons = [
        Person("2024", 900 if i < 10 else 40, i >= 10, evaluable=i < 10, responder=i < 6)
        for i in range(12)
    ]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    row = summary_of(tables)[TOTAL]
    assert not (row["response_followed"].isdigit() and row["response_evaluable"].isdigit())
    leaked = with_cell(tables, TOTAL, "response_followed", "12")
    leaked = with_cell(leaked, TOTAL, "response_evaluable", "10")
    leaked = with_cell(leaked, "2024", "response_followed", "12")
    leaked = with_cell(leaked, "2024", "response_evaluable", "10")
    findings = audit_release(leaked, truth, 5, {})
    assert any("response_followed − response_evaluable" in f.cell for f in findings)


# -- survival implying deaths -------------------------------------------------------------


def test_survival_does_not_imply_a_small_number_of_deaths() -> None:
    """2023: 5 of 10 die in the first year; 2024: 2 of 10. With both the 2023 and the total
    1-year survival shown, 7 − 5 = 2 deaths in 2024 follow (no censoring: n × (1 − S))."""
    persons = [Person("2023", 100 + i if i < 5 else 900, i < 5) for i in range(10)]
    persons += [Person("2024", 200 + i if i < 2 else 800, i < 2) for i in range(10)]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    rows = summary_of(tables)
    assert rows["2024"]["os_1y"] is None
    assert rows["2023"]["os_1y"] is None or rows[TOTAL]["os_1y"] is None
    old = with_cell(tables, "2023", "os_1y", Decimal("0.500"))
    old = with_cell(old, "2023", "os_1y_ci_lower", Decimal("0.187"))
    old = with_cell(old, "2023", "os_1y_ci_upper", Decimal("0.753"))
    old = with_cell(old, TOTAL, "os_1y", Decimal("0.650"))
    old = with_cell(old, TOTAL, "os_1y_ci_lower", Decimal("0.403"))
    old = with_cell(old, TOTAL, "os_1y_ci_upper", Decimal("0.816"))
    findings = audit_release(old, truth, 5, {})
    assert any("2024 events_365" in f.cell for f in findings)


# -- a small Kaplan-Meier drop ------------------------------------------------------------


def test_every_curve_drop_holds_at_least_t_deaths() -> None:
    """One death every 20 days: the old curve showed each drop once 5 deaths had
    accumulated (S from 0.8276 to 0.7931 is one death among 29)."""
    persons = [Person("2024", 20 * (i + 1), True) for i in range(12)]
    persons += [Person("2024", 1000, False) for _ in range(18)]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    curve = next(t for t in tables if t.name == CURVES).records()
    shown = sorted({r["survival"] for r in curve}, reverse=True)
    steps = kaplan_meier(truth[GROUP].subjects)
    assert len(shown) - 1 < len(steps) // 5 + 1
    old_rows = tuple(
        ("P", "I", day, CUTOFF, str(sum(1 for t, _ in truth[GROUP].subjects if t >= day)), s, s, s)
        for day in range(0, 300, 30)
        for s in [
            Decimal(
                str(round(next((x.survival for x in reversed(steps) if x.time <= day), 1.0), 4))
            )
        ]
        if day >= 100
    )
    old = [t if t.name != CURVES else ExportTable(CURVES, CURVE_COLUMNS, old_rows) for t in tables]
    findings = audit_release(old, truth, 5, {})
    assert any("fewer than 5" in f.reason and f.table == CURVES for f in findings)


def test_curve_points_stop_before_fewer_than_t_are_at_risk() -> None:
    persons = [Person("2024", 30 * (i + 1), i % 2 == 0) for i in range(12)]
    rows = curve_rows([(p.days, int(p.died)) for p in persons], 5)
    assert rows and all(n is None or n >= 5 for _, n, *_ in rows)
    shown = [n for _, n, *_ in rows if n is not None]
    assert all(a - b == 0 or a - b >= 5 for a, b in itertools.pairwise(shown))


# -- the difference of two releases -------------------------------------------------------


def test_the_change_since_the_previous_release_is_protected() -> None:
    """Last month's release showed 20 patients; this month 22 would show that 2 were
    treated in between."""
    before = [Person("2025", 900, False, evaluable=False, graded=False) for _ in range(20)]
    after = before + [Person("2025", 40, False, evaluable=False, graded=False)] * 2
    first = {GROUP: truth_of(before)}
    previous = reader_ranges(next(t for t in release_of(first) if t.name == SUMMARY), 5)
    assert previous[(GROUP, (TOTAL, "patients_treated"))] == (20, 20)
    second = {GROUP: truth_of(after)}
    tables = release_of(second, previous=previous)
    assert audit_release(tables, second, 5, previous) == []
    assert summary_of(tables)[TOTAL]["patients_treated"] == "x"
    shown = with_cell(
        with_cell(tables, TOTAL, "patients_treated", "22"), "2025", "patients_treated", "22"
    )
    findings = audit_release(shown, second, 5, previous)
    assert any("change since the previous release" in f.cell for f in findings)


# -- random tables ------------------------------------------------------------------------


def random_persons(rng: random.Random) -> list[Person]:
    persons = []
    for year in rng.sample(["2021", "2022", "2023", "2024", "2025"], rng.randint(1, 4)):
        for _ in range(rng.choice([1, 2, 3, 4, 6, 9, 15, 25])):
            evaluable = rng.random() < 0.8
            responder = evaluable and rng.random() < 0.6
            graded = rng.random() < 0.9
            icu = rng.random() < 0.1
            persons.append(
                Person(
                    year,
                    rng.randint(1, 1200),
                    rng.random() < 0.4,
                    evaluable,
                    responder,
                    responder and rng.random() < 0.5,
                    graded,
                    graded and rng.random() < 0.15,
                    graded and rng.random() < 0.1,
                    icu,
                    evaluable or rng.random() < 0.7,
                    icu or rng.random() < 0.9,
                )
            )
    return persons


@pytest.mark.parametrize("threshold", [5, 3])
def test_random_tables_always_pass_the_audit_after_protection(threshold: int) -> None:
    rng = random.Random(20261201 + threshold)
    truth = {(f"P{i}", "I"): truth_of(random_persons(rng)) for i in range(12)}
    tables = release_of(truth, threshold)
    assert audit_release(tables, truth, threshold, {}) == []
    cells = [r[m] for r in next(t for t in tables if t.name == SUMMARY).records() for m in MEASURES]
    hidden = sum(1 for c in cells if not c.isdigit())
    print(f"T={threshold}: {hidden}/{len(cells)} count cells not shown ({hidden / len(cells):.1%})")


def test_no_curve_leaves_a_small_number_of_deaths_after_its_last_drop() -> None:
    """7 deaths in the first 70 days, then 2 more: a curve dropping once by 7 next to a
    summary of 9 deaths tells that 2 died later."""
    persons = [Person("2024", 10 * (i + 1), True) for i in range(7)]
    persons += [Person("2024", 500, True), Person("2024", 600, True)]
    persons += [Person("2024", 1000, False) for _ in range(21)]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    assert {r["survival"] for r in next(t for t in tables if t.name == CURVES).records()} == {1}
    drop = Decimal(str(round(kaplan_meier(truth[GROUP].subjects)[6].survival, 4)))
    old_rows = tuple(
        ("P", "I", day, CUTOFF, None, s, s, s)
        for day in range(0, 900, 30)
        for s in [Decimal(1) if day < 70 else drop]
    )
    old = [t if t.name != CURVES else ExportTable(CURVES, CURVE_COLUMNS, old_rows) for t in tables]
    findings = audit_release(old, truth, 5, {})
    assert any("follow the last drop" in f.reason for f in findings)


def test_a_curve_is_not_shown_beside_a_hidden_total() -> None:
    persons = [Person("2024", 20 * (i + 1), True) for i in range(12)]
    persons += [Person("2024", 1000, False) for _ in range(18)]
    truth = {GROUP: truth_of(persons)}
    tables = release_of(truth)
    hidden = with_cell(tables, TOTAL, "deaths", "x")
    findings = audit_release(hidden, truth, 5, {})
    assert any(f.table == CURVES and "hidden" in f.reason for f in findings)


# -- cumulative incidence -----------------------------------------------------------------


def _subjects(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """(days, code) with many tied times: 0 censored, 1 the event, 2 death first."""
    return [(rng.randint(1, 40) * 10, rng.choice([0, 0, 1, 1, 2])) for _ in range(n)]


def test_the_estimate_equals_scikit_survival() -> None:
    rng = random.Random(13)
    for n in (7, 30, 120):
        subjects = _subjects(rng, n)
        codes = np.array([c for _, c in subjects])
        times = np.array([t for t, _ in subjects])
        grid, incidence = cumulative_incidence_competing_risks(codes, times)
        for step in aalen_johansen(subjects):
            at = np.searchsorted(grid, step.time, side="right") - 1
            assert abs(step.incidence - incidence[1][at]) <= 1e-12
            assert 0 <= step.ci_lower <= step.incidence <= step.ci_upper <= 1


def _group_with(subjects: list[tuple[int, int]]) -> dict:
    persons = [Person("2024", 900, False) for _ in range(len(subjects))]
    truth = truth_of(persons)
    truth.incidence = {"relapse_progression": subjects}
    return {GROUP: truth}


def test_every_rise_holds_at_least_t_events() -> None:
    """One relapse every 20 days among 30 patients: the old curve rose at every relapse
    (0.0333 to 0.0667 is one relapse among 29)."""
    subjects = [(20 * (i + 1), 1) for i in range(12)] + [(900, 0)] * 18
    truth = _group_with(subjects)
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    curve = next(t for t in tables if t.name == INCIDENCE).records()
    assert len({r["cumulative_incidence"] for r in curve}) == 3  # 0, after 5 and after 10
    steps = aalen_johansen(subjects)
    old_rows = tuple(
        (*GROUP, "relapse_progression", day, CUTOFF, value, value, value)
        for day in range(0, 300, 30)
        for value in [
            Decimal(
                str(round(next((s.incidence for s in reversed(steps) if s.time <= day), 0.0), 4))
            )
        ]
    )
    old = [
        t if t.name != INCIDENCE else ExportTable(INCIDENCE, INCIDENCE_COLUMNS, old_rows)
        for t in tables
    ]
    findings = audit_release(old, truth, 5, {})
    assert any("a rise of" in f.reason and f.table == INCIDENCE for f in findings)


def test_points_stop_before_fewer_than_t_are_at_risk() -> None:
    subjects = [(30 * (i + 1), 1 + i % 2) for i in range(12)]
    rows = incidence_rows(subjects, 5)
    assert rows and max(day for day, *_ in rows) <= 30 * 8
    assert all(sum(1 for t, _ in subjects if t >= day) >= 5 for day, *_ in rows)


def test_random_curves_always_pass_the_audit_after_protection() -> None:
    rng = random.Random(20261201)
    truth = {}
    for i in range(8):
        n = rng.choice([3, 8, 15, 40])
        group = truth_of([Person("2024", rng.randint(1, 1200), rng.random() < 0.4)] * n)
        group.incidence = {kind: _subjects(rng, n) for kind in ("infection", "relapse")}
        truth[(f"P{i}", "I")] = group
    tables = release_of(truth)
    assert audit_release(tables, truth, 5, {}) == []
    assert next(t for t in tables if t.name == INCIDENCE).rows
