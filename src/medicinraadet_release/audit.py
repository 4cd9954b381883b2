"""The output checker: reads a release as an attacker would and gates it.

It takes only what is published (the export tables every artefact is made from), the true
counts, and the previous release, and checks:

* counts — a shown count is true and 0 or ≥ T; "<T" hides 1..T−1;
* the interval audit — by linear programming over every count, complement and survival
  estimate of a product and indication at once (`cells`), no count or complement of
  1..T−1 is narrowed to fewer values than "<T" leaves, and no "x" is pinned;
* across releases — no count changed since the previous release by a known 1..T−1;
* rates — shown only from two shown counts, and equal to their quotient;
* survival at 1 and 2 years — only where the deaths by then and the persons left are 0
  or ≥ T, at least T are still at risk, and (for all years together) the curve passes
  through it;
* curves — every drop holds ≥ T deaths and leaves ≥ T at risk; numbers at risk are ≥ T
  and change by 0 or ≥ T;
* cumulative incidence — shown only beside the total's shown patients, only while ≥ T
  are at risk, and every rise holds ≥ T events and leaves ≥ T at risk;
* actionable pharmacogenetic exposures (`pgx`) — the same counts and interval audit over
  each drug, gene, phenotype and recommendation class (years sum to the total, persons ⊆
  exposures), and only the periods of a group that exist.

A finding names the table, the cell and why. `artefact_findings` then checks that every
written file shows exactly the audited tables.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from medicinraadet_release.cells import (
    HORIZONS,
    MEASURES,
    TOTAL,
    Key,
    LinkedTable,
    Marker,
    Requirement,
    difference_requirement,
    reader_bounds,
    small_cell_requirements,
)
from medicinraadet_release.curves import kaplan_meier
from medicinraadet_release.incidence import aalen_johansen
from medicinraadet_release.inputs import Group, GroupTruth
from medicinraadet_release.pgx import (
    PGX,
    PGX_MEASURES,
    PgxGroup,
    PgxRanges,
    PgxTruth,
    pgx_change_requirements,
    pgx_group,
    pgx_table,
)
from medicinraadet_release.tables import ExportTable

SUMMARY = "medicinraadet_followup_summary"
CURVES = "medicinraadet_followup_km"
INCIDENCE = "medicinraadet_followup_cif"
RATES: dict[str, tuple[str, str]] = {
    "response_rate_treated": ("responders", "response_followed"),
    "response_rate": ("responders", "response_evaluable"),
    "complete_response_rate_treated": ("complete_responders", "response_followed"),
    "complete_response_rate": ("complete_responders", "response_evaluable"),
    "crs_grade3plus_rate": ("crs_grade3plus", "toxicity_evaluable"),
    "icans_grade3plus_rate": ("icans_grade3plus", "toxicity_evaluable"),
    "icu_30d_rate": ("icu_30d", "icu_30d_evaluable"),
}
OS_COLUMNS: dict[int, str] = {365: "os_1y", 730: "os_2y"}
PreviousRanges = dict[tuple[Group, Key], tuple[float, float]]


@dataclass(frozen=True)
class Finding:
    """One disclosure (or falsehood) the checker found."""

    table: str
    cell: str
    reason: str

    def __str__(self) -> str:
        return f"{self.table}: {self.cell}: {self.reason}"


@dataclass
class Published:
    """One product and indication's counts as a reader sees them."""

    periods: list[str]
    markers: dict[Key, Marker]
    shown: dict[Key, int]


def parse_marker(text: Any, threshold: int) -> tuple[Marker, int | None] | None:
    """A published count cell: digits, "<T", "≤T−1" or "x" (None: not a count marker)."""
    if isinstance(text, str) and text.isdigit():
        return Marker.SHOWN, int(text)
    if text == f"<{threshold}":
        return Marker.SMALL, None
    if text == f"≤{threshold - 1}":
        return Marker.SUPPRESSED, None
    if text == "x":
        return Marker.HIDDEN, None
    return None


def published_groups(
    summary: ExportTable, threshold: int, truth: Mapping[Group, GroupTruth] | None = None
) -> tuple[dict[Group, Published], list[Finding]]:
    """Markers per cell (survival shown = its deaths shown, with their true number when
    `truth` is given: the checker assumes a reader can recover them exactly)."""
    groups: dict[Group, Published] = {}
    findings = []
    for row in summary.records():
        group = (row["product_code"], row["indication_group"])
        period = row["period"]
        published = groups.setdefault(group, Published([], {}, {}))
        published.periods.append(period)
        for measure in MEASURES:
            if measure not in row:  # a previous release from before the measure existed
                continue
            parsed = parse_marker(row[measure], threshold)
            if parsed is None:
                findings.append(Finding(SUMMARY, _cell(group, period, measure), "not a count"))
                parsed = (Marker.HIDDEN, None)
            published.markers[(period, measure)] = parsed[0]
            if parsed[1] is not None:
                published.shown[(period, measure)] = parsed[1]
        if truth is not None:
            for horizon, measure in HORIZONS.items():
                key = (period, measure)
                if row[OS_COLUMNS[horizon]] is None:
                    published.markers[key] = Marker.BLANK
                else:
                    published.markers[key] = Marker.SHOWN
                    published.shown[key] = truth[group].values[key]
    return groups, findings


def reader_ranges(summary: ExportTable, threshold: int) -> PreviousRanges:
    """What a reader of a release knows of each count: its feasible range."""
    ranges: PreviousRanges = {}
    groups, _ = published_groups(summary, threshold)
    for group, published in groups.items():
        table = LinkedTable(_ordered(published.periods), published.markers)
        bounds = {
            k: reader_bounds(k, m, published.shown.get(k), threshold)
            for k, m in published.markers.items()
        }
        reader = table.reader(bounds)
        for key in table.keys:
            found = reader.range(((key, 1),))
            ranges[(group, key)] = (found.low, found.high)
    return ranges


def change_requirements(
    group: Group, values: Mapping[Key, int], previous: PreviousRanges, threshold: int
) -> list[Requirement]:
    """Requirements on the counts whose change since the previous release would be known
    to be small."""
    found = []
    for key, value in values.items():
        if key[1] in MEASURES and (group, key) in previous:
            requirement = difference_requirement(key, value, previous[(group, key)], threshold)
            if requirement is not None:
                found.append(requirement)
    return found


def audit_release(
    tables: Sequence[ExportTable],
    truth: Mapping[Group, GroupTruth],
    threshold: int,
    previous: PreviousRanges,
    pgx_truth: Mapping[PgxGroup, PgxTruth] | None = None,
    pgx_previous: PgxRanges | None = None,
) -> list[Finding]:
    """Every disclosure in the tables of one release (empty: the release may be written)."""
    by_name = {t.name: t for t in tables}
    findings_pgx = (
        pgx_findings(by_name[PGX], pgx_truth or {}, threshold, pgx_previous)
        if PGX in by_name
        else []
    )
    groups, findings = published_groups(by_name[SUMMARY], threshold, truth)
    for group, published in groups.items():
        findings += _count_findings(group, published, truth[group], threshold)
        findings += _interval_findings(group, published, truth[group], threshold, previous)
    for row in by_name[SUMMARY].records():
        group = (row["product_code"], row["indication_group"])
        findings += _rate_findings(group, row)
        findings += _survival_findings(group, row, truth[group], threshold)
    if CURVES in by_name:
        findings += _curve_findings(by_name[CURVES], by_name[SUMMARY], truth, threshold)
    if INCIDENCE in by_name:
        findings += _incidence_findings(by_name[INCIDENCE], by_name[SUMMARY], truth, threshold)
    return findings + findings_pgx


def pgx_reader_ranges(table: ExportTable, threshold: int) -> PgxRanges:
    """What a reader of a release's pgx table knows of each count: its feasible range."""
    published: dict[PgxGroup, Published] = {}
    for row in table.records():
        group = published.setdefault(pgx_group(row), Published([], {}, {}))
        group.periods.append(row["period"])
        for measure in PGX_MEASURES:
            key = (row["period"], measure)
            marker, shown = parse_marker(row[measure], threshold) or (Marker.HIDDEN, None)
            group.markers[key] = marker
            if shown is not None:
                group.shown[key] = shown
    ranges: PgxRanges = {}
    for name, group in published.items():
        linked = pgx_table(_ordered(group.periods), group.markers)
        reader = linked.reader(
            {
                k: linked.bounds(k, m, group.shown.get(k), threshold)
                for k, m in group.markers.items()
            }
        )
        for key in linked.keys:
            found = reader.range(((key, 1),))
            ranges[(name, key)] = (found.low, found.high)
    return ranges


def pgx_findings(
    table: ExportTable,
    truth: Mapping[PgxGroup, PgxTruth],
    threshold: int,
    previous: PgxRanges | None = None,
) -> list[Finding]:
    """Every disclosure in exports.pgx_actionable_exposures: each count against the data,
    then, per group, the reader's linear programs over everything it publishes (no count or
    complement of 1..T−1 narrowed below what "<T" leaves, no "x" pinned, no change since
    the `previous` release known to be 1..T−1)."""
    found: list[Finding] = []
    groups: dict[PgxGroup, Published] = {}
    for row in table.records():
        group = pgx_group(row)
        name = "/".join(group)
        period = row["period"]
        if group not in truth or (period, PGX_MEASURES[0]) not in truth[group].values:
            found.append(Finding(PGX, f"{name} {period}", "a row the data does not have"))
            continue
        published = groups.setdefault(group, Published([], {}, {}))
        published.periods.append(period)
        for measure in PGX_MEASURES:
            key = (period, measure)
            parsed = parse_marker(row[measure], threshold)
            if parsed is None:
                found.append(Finding(PGX, f"{name} {period} {measure}", "not a count"))
                parsed = (Marker.HIDDEN, None)
            published.markers[key] = parsed[0]
            if parsed[1] is not None:
                published.shown[key] = parsed[1]
            finding = _count_finding(
                PGX, f"{name} {period} {measure}", parsed, truth[group].values[key], threshold
            )
            if finding is not None:
                found.append(finding)
    for group, published in sorted(groups.items()):
        name = "/".join(group)
        if TOTAL not in published.periods:
            found.append(Finding(PGX, name, "years published without their total"))
        linked = pgx_table(_ordered(published.periods), published.markers)
        values = {k: truth[group].values[k] for k in linked.keys}
        bounds = {
            k: linked.bounds(k, m, published.shown.get(k), threshold)
            for k, m in published.markers.items()
        }
        requirements = small_cell_requirements(linked, values, threshold)
        requirements += [
            Requirement(((k, 1),), f"{k[0]} {k[1]}", min_width=1)
            for k, m in published.markers.items()
            if m is Marker.HIDDEN and values[k] >= threshold
        ]
        requirements += pgx_change_requirements(group, values, previous or {}, threshold)
        try:
            failures = linked.failures(requirements, bounds)
        except ValueError as exc:
            found.append(Finding(PGX, name, str(exc)))
            continue
        found += [Finding(PGX, f"{name} {f.requirement.label}", f.reason()) for f in failures]
    return found


def _count_finding(
    table: str, cell: str, parsed: tuple[Marker, int | None], true: int, threshold: int
) -> Finding | None:
    """A published count that is false, or a marker on a count it may not be put on."""
    marker, shown = parsed
    if marker is Marker.SHOWN and shown != true:
        return Finding(table, cell, "shown count differs from the data")
    if marker is Marker.SHOWN and 1 <= true < threshold:
        return Finding(table, cell, f"a count of 1..{threshold - 1} is shown")
    if marker is Marker.SMALL and not 1 <= true < threshold:
        return Finding(table, cell, f'"<{threshold}" on a count outside 1..{threshold - 1}')
    if marker is Marker.SUPPRESSED and true >= threshold:
        return Finding(table, cell, f'"≤{threshold - 1}" on a count of {threshold}+')
    if marker is Marker.HIDDEN and true < threshold:
        return Finding(table, cell, f'"x" on a count below {threshold}')
    return None


def _ordered(periods: Sequence[str]) -> list[str]:
    return sorted(p for p in periods if p != TOTAL) + [p for p in periods if p == TOTAL]


def _cell(group: Group, period: str, column: str) -> str:
    return f"{group[0]}/{group[1]} {period} {column}"


def _count_findings(
    group: Group, published: Published, truth: GroupTruth, threshold: int
) -> list[Finding]:
    found = []
    for (period, measure), marker in published.markers.items():
        if measure not in MEASURES:
            continue
        parsed = (marker, published.shown.get((period, measure)))
        true = truth.values[(period, measure)]
        finding = _count_finding(SUMMARY, _cell(group, period, measure), parsed, true, threshold)
        if finding is not None:
            found.append(finding)
    return found


def _interval_findings(
    group: Group,
    published: Published,
    truth: GroupTruth,
    threshold: int,
    previous: PreviousRanges,
) -> list[Finding]:
    """The linear-programming audit of one product and indication."""
    table = LinkedTable(_ordered(published.periods), published.markers)
    values = {k: truth.values[k] for k in table.keys}
    bounds = {
        k: reader_bounds(k, m, published.shown.get(k), threshold)
        for k, m in published.markers.items()
    }
    requirements = small_cell_requirements(table, values, threshold)
    requirements += [
        Requirement(((k, 1),), f"{k[0]} {k[1]}", min_width=1)
        for k, m in published.markers.items()
        if m is Marker.HIDDEN and values[k] >= threshold
    ]
    requirements += change_requirements(group, values, previous, threshold)
    try:
        failures = table.failures(requirements, bounds)
    except ValueError as exc:
        return [Finding(SUMMARY, f"{group[0]}/{group[1]}", str(exc))]
    return [
        Finding(SUMMARY, f"{group[0]}/{group[1]} {f.requirement.label}", f.reason())
        for f in failures
    ]


def _rate_findings(group: Group, row: Mapping[str, Any]) -> list[Finding]:
    found = []
    for rate, (numerator, denominator) in RATES.items():
        if row.get(rate) is None:
            continue
        cell = _cell(group, row["period"], rate)
        top, bottom = row[numerator], row[denominator]
        if not (top.isdigit() and bottom.isdigit() and int(bottom) > 0):
            found.append(Finding(SUMMARY, cell, "rate shown without both its counts shown"))
        elif abs(float(row[rate]) - int(top) / int(bottom)) > 5e-4 + 1e-9:
            found.append(Finding(SUMMARY, cell, "rate differs from its counts"))
    return found


def _survival_findings(
    group: Group, row: Mapping[str, Any], truth: GroupTruth, threshold: int
) -> list[Finding]:
    found = []
    period = row["period"]
    patients = truth.values[(period, "patients_treated")]
    for horizon, column in OS_COLUMNS.items():
        shown = [row[c] is not None for c in (column, f"{column}_ci_lower", f"{column}_ci_upper")]
        cell = _cell(group, period, column)
        if any(shown) and not all(shown):
            found.append(Finding(SUMMARY, cell, "estimate and confidence limits shown apart"))
        if not shown[0]:
            continue
        state = truth.horizons[(period, horizon)]
        events = truth.values[(period, HORIZONS[horizon])]
        if not state.reached or state.survival is None:
            found.append(Finding(SUMMARY, cell, "survival shown beyond the follow-up"))
            continue
        if state.at_risk < threshold:
            found.append(Finding(SUMMARY, cell, f"fewer than {threshold} still at risk"))
        for what, count in (("deaths", events), ("persons left", patients - events)):
            if 1 <= count < threshold:
                found.append(Finding(SUMMARY, cell, f"implies {what} of 1..{threshold - 1}"))
        if abs(float(row[column]) - state.survival) > 5e-4 + 1e-9:
            found.append(Finding(SUMMARY, cell, "survival differs from the data"))
    return found


def _curve_findings(
    curves: ExportTable,
    summary: ExportTable,
    truth: Mapping[Group, GroupTruth],
    threshold: int,
) -> list[Finding]:
    by_group: dict[Group, list[dict[str, Any]]] = defaultdict(list)
    for row in curves.records():
        by_group[(row["product_code"], row["indication_group"])].append(row)
    totals = {
        (r["product_code"], r["indication_group"]): r
        for r in summary.records()
        if r["period"] == TOTAL
    }
    found = []
    for group, rows in by_group.items():
        rows.sort(key=lambda r: r["time_days"])
        subjects = truth[group].subjects
        total = totals.get(group)
        drops = any(r["survival"] is not None and r["survival"] < 1 for r in rows)
        for column, needed in (("patients_treated", True), ("deaths", drops)):
            if needed and (total is None or not total[column].isdigit()):
                found.append(
                    Finding(
                        CURVES,
                        f"{group[0]}/{group[1]}",
                        f"curve shown while the total's {column} is hidden "
                        "(a curve starts at the patients and drops by the deaths)",
                    )
                )
        found += _at_risk_findings(group, rows, subjects, threshold)
        found += _drop_findings(group, rows, subjects, threshold, totals.get(group))
    return found


def _at_risk_findings(
    group: Group, rows: list[dict[str, Any]], subjects: list[tuple[int, int]], threshold: int
) -> list[Finding]:
    found = []
    last: int | None = None
    for row in rows:
        cell = _cell(group, f"day {row['time_days']}", "n_at_risk")
        true = sum(1 for t, _ in subjects if t >= row["time_days"])
        if true < threshold:
            found.append(
                Finding(CURVES, cell, f"a curve point with fewer than {threshold} at risk")
            )
        shown = row["n_at_risk"]
        if shown is None:
            continue
        if not (shown.isdigit() and int(shown) == true):
            found.append(Finding(CURVES, cell, "number at risk is not the true count"))
            continue
        if last is not None and 1 <= last - int(shown) < threshold:
            found.append(
                Finding(CURVES, cell, f"at risk changed by 1..{threshold - 1} since the last shown")
            )
        last = int(shown)
    return found


def _drop_findings(
    group: Group,
    rows: list[dict[str, Any]],
    subjects: list[tuple[int, int]],
    threshold: int,
    total: Mapping[str, Any] | None,
) -> list[Finding]:
    """Each distinct published survival value is matched to the true step it comes from;
    the deaths between two matched steps must be ≥ T and leave ≥ T at risk."""
    steps = kaplan_meier(subjects)
    found = []
    previous_time = -1
    values = sorted({float(r["survival"]) for r in rows if r["survival"] is not None}, reverse=True)
    drops: list[tuple[int, float]] = []
    for value in values:
        if value >= 1:
            continue
        matches = [s for s in steps if abs(s.survival - value) <= 5e-5 + 1e-12]
        cell = _cell(group, f"survival {value:.4f}", "survival")
        if not matches:
            found.append(Finding(CURVES, cell, "not a value of the Kaplan-Meier curve"))
            continue
        step = matches[-1]
        deaths = sum(s.events for s in steps if previous_time < s.time <= step.time)
        if deaths < threshold:
            found.append(
                Finding(CURVES, cell, f"a drop of {deaths} deaths (fewer than {threshold})")
            )
        if step.at_risk - step.events < threshold:
            found.append(Finding(CURVES, cell, f"fewer than {threshold} at risk after the drop"))
        drops.append((step.time, value))
        previous_time = step.time
    after = sum(s.events for s in steps if s.time > previous_time) if drops else 0
    if 1 <= after < threshold:
        found.append(
            Finding(
                CURVES,
                _cell(group, "after the last drop", "survival"),
                f"{after} deaths "
                f"follow the last drop (total deaths minus the curve's: 1..{threshold - 1})",
            )
        )
    if total is not None:
        for horizon, column in OS_COLUMNS.items():
            if total[column] is None or not rows or rows[-1]["time_days"] < horizon:
                continue
            at_horizon = [v for t, v in drops if t <= horizon]
            curve_value = at_horizon[-1] if at_horizon else 1.0
            if abs(curve_value - float(total[column])) > 5e-4 + 1e-9:
                found.append(
                    Finding(
                        SUMMARY,
                        _cell(group, TOTAL, column),
                        "survival differs from the published curve at the horizon "
                        "(the difference is a small number of deaths)",
                    )
                )
    return found


def _incidence_findings(
    curves: ExportTable,
    summary: ExportTable,
    truth: Mapping[Group, GroupTruth],
    threshold: int,
) -> list[Finding]:
    """Each cumulative-incidence curve: beside the total's shown patients, points only with
    ≥ T at risk, and each distinct published value a true step whose rise since the last
    one holds ≥ T events and leaves ≥ T at risk."""
    by_curve: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in curves.records():
        by_curve[(row["product_code"], row["indication_group"], row["event_type"])].append(row)
    shown = {
        (r["product_code"], r["indication_group"])
        for r in summary.records()
        if r["period"] == TOTAL and str(r["patients_treated"]).isdigit()
    }
    found = []
    for (product, indication, event_type), rows in sorted(by_curve.items()):
        name = f"{product}/{indication} {event_type}"
        if (product, indication) not in shown:
            found.append(
                Finding(INCIDENCE, name, "curve shown while the total's patients are hidden")
            )
        subjects = truth[(product, indication)].incidence.get(event_type, [])
        for row in rows:
            if sum(1 for t, _ in subjects if t >= row["time_days"]) < threshold:
                cell = f"{name} day {row['time_days']}"
                found.append(Finding(INCIDENCE, cell, f"fewer than {threshold} at risk"))
        found += _rise_findings(name, rows, aalen_johansen(subjects), threshold)
    return found


def _rise_findings(
    name: str, rows: Sequence[Mapping[str, Any]], steps: Sequence[Any], threshold: int
) -> list[Finding]:
    found = []
    previous_time = -1
    for value in sorted({float(r["cumulative_incidence"]) for r in rows}):
        if value <= 0:
            continue
        cell = f"{name} incidence {value:.4f}"
        matches = [s for s in steps if abs(s.incidence - value) <= 5e-5 + 1e-12]
        if not matches:
            found.append(Finding(INCIDENCE, cell, "not a value of the Aalen-Johansen curve"))
            continue
        step = matches[0]  # the rise; later steps of the same value add only competing events
        events = sum(s.events for s in steps if previous_time < s.time <= step.time)
        if events < threshold:
            found.append(
                Finding(INCIDENCE, cell, f"a rise of {events} events (fewer than {threshold})")
            )
        if step.at_risk - step.events - step.competing < threshold:
            found.append(Finding(INCIDENCE, cell, f"fewer than {threshold} at risk after the rise"))
        previous_time = step.time
    return found


# -- the written files ---------------------------------------------------------------------


def artefact_findings(
    folder: Path,
    tables: Sequence[ExportTable],
    csv_text: Mapping[str, bytes],
    workbook: str,
    report: str,
) -> list[Finding]:
    """Every CSV, every workbook sheet and every table cell in the report shows only values
    of the audited tables."""
    found = []
    for table in tables:
        name = f"{table.name}.csv"
        written = list(csv.reader(io.StringIO((folder / name).read_text(encoding="utf-8"))))
        expected = list(csv.reader(io.StringIO(csv_text[name].decode("utf-8"))))
        if written != expected:
            found.append(Finding(name, "file", "differs from the audited table"))
    audited = {_normalise(v) for t in tables for row in t.rows for v in row}
    book = load_workbook(folder / workbook, read_only=True)
    for sheet in book.worksheets:
        if sheet.title == "Definitioner":
            continue
        for row in sheet.iter_rows(min_row=2, values_only=True):
            for value in row:
                if _normalise(value) not in audited:
                    found.append(Finding(workbook, f"{sheet.title}", f"unaudited value {value!r}"))
    cells = _report_cells((folder / report).read_text(encoding="utf-8"))
    for value in cells:
        if _normalise(value) not in audited:
            found.append(Finding(report, "table cell", f"unaudited value {value!r}"))
    return found


def _normalise(value: Any) -> str:
    """One spelling per value across CSV, Excel and the Danish report (decimal comma)."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        return "nan" if math.isnan(number) else f"{round(number, 3):g}"
    text = str(value)
    if re.fullmatch(r"-?\d+,\d+", text):
        return f"{round(float(text.replace(',', '.')), 3):g}"
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return f"{round(float(text), 3):g}"
    return text[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text) else text


class _Cells(HTMLParser):
    """The text of every <td> in a report."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._inside = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.cells[-1] += data


def _report_cells(html: str) -> list[str]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells
