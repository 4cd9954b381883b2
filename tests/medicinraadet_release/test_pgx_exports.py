"""Actionable pharmacogenetic exposures through the release's disclosure control, without a
warehouse: hand-made groups (a year of 2 persons under a total of 40, a small number of
repeat exposures, years of one person each under a small total) fail the audit when only
their small cells are marked and pass it once protected; random groups always pass. Every
protected table is also read by an independent reader written here with scipy's linprog
(years sum to the total, persons <= exposures, what each marker says), so the audit's own
linear programs are not the only judge."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from scipy.optimize import linprog

from medicinraadet_release.audit import pgx_findings, pgx_reader_ranges
from medicinraadet_release.cells import TOTAL, Marker
from medicinraadet_release.exports import SuppressionShare
from medicinraadet_release.pgx import (
    PGX,
    PGX_LABELS,
    PGX_MEASURES,
    PgxGroup,
    PgxTruth,
    count_text,
    pgx_table,
    protect_pgx,
)
from medicinraadet_release.policy import MEDICINRAADET, STATISTICS_DENMARK
from medicinraadet_release.protection import Unprotectable, protect
from medicinraadet_release.review import review_entry
from medicinraadet_release.tables import BuildInfo, ExportTable
from medicinraadet_release.writer import AuditedRelease, _write_files

T = MEDICINRAADET.threshold
GROUP: PgxGroup = ("B01AC04", "CYP2C19", "Poor Metabolizer", "alternative drug")
COLUMNS = (*PGX_LABELS, *PGX_MEASURES)


def truth_of(years: Mapping[str, tuple[int, int]]) -> PgxTruth:
    """A group from (persons, exposures) per year; the total is their sum."""
    truth = PgxTruth()
    for year, (persons, exposures) in sorted(years.items()):
        truth.periods.append(year)
        truth.values[(year, "persons")] = persons
        truth.values[(year, "exposures")] = exposures
    truth.periods.append(TOTAL)
    for measure, index in (("persons", 0), ("exposures", 1)):
        truth.values[(TOTAL, measure)] = sum(v[index] for v in years.values())
    return truth


def labels_of(truth: Mapping[PgxGroup, PgxTruth]) -> list[dict[str, str]]:
    return [
        {
            "atc_code": group[0],
            "drug": "clopidogrel",
            "gene": group[1],
            "phenotype": group[2],
            "recommendation_class": group[3],
            "period": period,
        }
        for group, group_truth in truth.items()
        for period in group_truth.periods
    ]


def primary_only(truth: PgxTruth, threshold: int) -> ExportTable:
    """The publication without secondary suppression: 1..T−1 as "<T", all else shown."""
    rows = []
    for label in labels_of({GROUP: truth}):
        counts = []
        for measure in PGX_MEASURES:
            value = truth.values[(label["period"], measure)]
            marker = Marker.SMALL if 1 <= value < threshold else Marker.SHOWN
            counts.append(count_text(marker, value, threshold))
        rows.append((*label.values(), *counts))
    return ExportTable(PGX, COLUMNS, tuple(rows))


def independent_reader(
    table: ExportTable, truth: Mapping[PgxGroup, PgxTruth], threshold: int
) -> list[str]:
    """Every count or exposures − persons of 1..T−1 that a linear-programming reader narrows
    below what "<T" leaves, and every "x" it pins; written apart from `cells`."""
    out = []
    by_group: dict[PgxGroup, list[dict[str, str]]] = {}
    for row in table.records():
        group = (row["atc_code"], row["gene"], row["phenotype"], row["recommendation_class"])
        by_group.setdefault(group, []).append(row)
    for group, rows in by_group.items():
        periods = [r["period"] for r in rows]
        years = sorted(p for p in periods if p != TOTAL)
        cells = [(p, m) for p in periods for m in PGX_MEASURES]
        column = {cell: i for i, cell in enumerate(cells)}
        equalities: list[np.ndarray] = []
        upper: list[np.ndarray] = []
        if years:
            for measure in PGX_MEASURES:
                line = np.zeros(len(cells))
                for year in years:
                    line[column[(year, measure)]] = 1
                line[column[(TOTAL, measure)]] = -1
                equalities.append(line)
        for period in periods:  # persons - exposures <= 0
            line = np.zeros(len(cells))
            line[column[(period, "persons")]] = 1
            line[column[(period, "exposures")]] = -1
            upper.append(line)
        bounds: list[tuple[float, float | None]] = []
        for period, measure in cells:
            text = next(r[measure] for r in rows if r["period"] == period)
            # a listed row had an exposure; whoever was exposed in the first year was new then
            at_least_one = measure == "exposures" or period in (TOTAL, years[0] if years else "")
            if text.isdigit():
                bounds.append((int(text), int(text)))
            elif text == f"<{threshold}":
                bounds.append((1, threshold - 1))
            elif text == f"≤{threshold - 1}":
                bounds.append((1 if at_least_one else 0, threshold - 1))
            else:
                assert text == "x"
                bounds.append((threshold, None))

        def extent(
            objective: np.ndarray,
            upper: list[np.ndarray] = upper,
            equalities: list[np.ndarray] = equalities,
            bounds: list[tuple[float, float | None]] = bounds,
        ) -> tuple[float, float]:
            reach = []
            for sign in (1, -1):
                result = linprog(
                    sign * objective,
                    A_ub=np.array(upper),
                    b_ub=np.zeros(len(upper)),
                    A_eq=np.array(equalities) if equalities else None,
                    b_eq=np.zeros(len(equalities)) if equalities else None,
                    bounds=bounds,
                    method="highs",
                )
                assert result.status in (0, 3), result.message  # 3: unbounded
                reach.append(sign * result.fun if result.status == 0 else -sign * np.inf)
            return reach[0], reach[1]

        values = truth[group].values
        for cell in cells:
            objective = np.zeros(len(cells))
            objective[column[cell]] = 1
            low, high = extent(objective)
            text = next(r[cell[1]] for r in rows if r["period"] == cell[0])
            if 1 <= values[cell] < threshold and (low > 1 + 1e-6 or high < threshold - 1 - 1e-6):
                out.append(f"{cell} ({values[cell]}) narrowed to {low:g}..{high:g}")
            if text == "x" and high - low < 1 - 1e-6:
                out.append(f"{cell} (x) pinned to {low:g}")
        for period in periods:
            difference = values[(period, "exposures")] - values[(period, "persons")]
            if 1 <= difference < threshold:
                objective = np.zeros(len(cells))
                objective[column[(period, "exposures")]] = 1
                objective[column[(period, "persons")]] = -1
                low, high = extent(objective)
                if high - low < threshold - 2 - 1e-6:
                    out.append(f"{period} exposures − persons narrowed to {low:g}..{high:g}")
    return out


def protected(truth: Mapping[PgxGroup, PgxTruth], threshold: int = T) -> ExportTable:
    return protect_pgx(truth, labels_of(truth), COLUMNS, threshold).table


def test_a_year_of_two_under_a_total_of_forty_cannot_be_recovered() -> None:
    truth = truth_of({"2024": (2, 9), "2025": (20, 50), "2026": (18, 45)})
    naive = primary_only(truth, T)
    # only "<5" on the 2: the total minus the other years gives it away
    assert any("2024 persons" in f.cell for f in pgx_findings(naive, {GROUP: truth}, T))
    assert independent_reader(naive, {GROUP: truth}, T)

    table = protected({GROUP: truth})
    records = {r["period"]: r for r in table.records()}
    assert set(records) == {"2024", "2025", "2026", TOTAL}
    assert records["2024"]["persons"] == "<5"
    assert records[TOTAL]["persons"] == "40"  # a year is hidden rather than the total
    assert sum(r["persons"] == "x" for r in records.values()) >= 1
    assert pgx_findings(table, {GROUP: truth}, T) == []
    assert independent_reader(table, {GROUP: truth}, T) == []


def test_the_reader_knows_persons_are_within_exposures() -> None:
    linked = pgx_table(["2025", TOTAL], [(p, m) for p in ("2025", TOTAL) for m in PGX_MEASURES])
    bounds = {
        ("2025", "persons"): linked.bounds(("2025", "persons"), Marker.HIDDEN, None, T),
        ("2025", "exposures"): linked.bounds(("2025", "exposures"), Marker.SHOWN, 7, T),
        (TOTAL, "persons"): linked.bounds((TOTAL, "persons"), Marker.HIDDEN, None, T),
        (TOTAL, "exposures"): linked.bounds((TOTAL, "exposures"), Marker.SHOWN, 7, T),
    }
    found = linked.reader(bounds).range(((("2025", "persons"), 1),))
    assert (found.low, found.high) == (T, 7)  # "x", but no more persons than exposures

    # 40 persons with 42 exposures: 2 repeat exposures, 1 in each year — by persons <= exposures
    # the difference is a small count; protection hides enough that it is not known.
    truth = truth_of({"2025": (20, 21), "2026": (20, 21)})
    naive = primary_only(truth, T)
    assert {f.cell for f in pgx_findings(naive, {GROUP: truth}, T)} >= {
        "/".join(GROUP) + " total exposures − persons"
    }
    assert independent_reader(naive, {GROUP: truth}, T)
    table = protected({GROUP: truth})
    assert pgx_findings(table, {GROUP: truth}, T) == []
    assert independent_reader(table, {GROUP: truth}, T) == []


def test_an_unprotectable_group_publishes_only_its_total() -> None:
    # three years of one person each under a total of 3: each year's exposures lie in 1..2
    # whatever is hidden (every listed year had one), fewer values than "<5" leaves
    truth = truth_of({"2024": (1, 1), "2025": (1, 1), "2026": (1, 1)})
    periods = truth.ordered_periods()
    with pytest.raises(Unprotectable):
        protect(pgx_table(periods, truth.values), truth.values, T)
    result = protect_pgx({GROUP: truth}, labels_of({GROUP: truth}), COLUMNS, T)
    assert [r["period"] for r in result.table.records()] == [TOTAL]
    assert result.table.records()[0]["persons"] == "<5"
    assert result.rows_left_out == 3
    assert pgx_findings(result.table, {GROUP: truth}, T) == []
    assert independent_reader(result.table, {GROUP: truth}, T) == []
    # publishing the years anyway is caught
    assert pgx_findings(primary_only(truth, T), {GROUP: truth}, T)


def test_the_audit_refuses_a_false_or_small_shown_count() -> None:
    truth = truth_of({"2025": (3, 30), "2026": (30, 40)})
    table = protected({GROUP: truth})
    forged = tuple((*row[:-2], "3", row[-1]) if row[5] == "2025" else row for row in table.rows)
    reasons = {f.reason for f in pgx_findings(ExportTable(PGX, COLUMNS, forged), {GROUP: truth}, T)}
    assert "a count of 1..4 is shown" in reasons


@pytest.mark.parametrize("threshold", [MEDICINRAADET.threshold, STATISTICS_DENMARK.threshold])
def test_random_groups_pass_both_readers_after_protection(threshold: int) -> None:
    rng = random.Random(threshold)
    truth: dict[PgxGroup, PgxTruth] = {}
    for index in range(25):
        years = {}
        for year in rng.sample(["2022", "2023", "2024", "2025", "2026"], rng.randint(1, 4)):
            persons = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 30])
            exposures = persons + rng.choice([0, 1, 2, 3, 5, 9, 40])
            years[year] = (persons, max(exposures, 1))
        first = min(years)
        years[first] = (max(years[first][0], 1), max(years[first][1], years[first][0], 1))
        truth[("A", "G", f"phenotype {index}", "reduce dose")] = truth_of(years)
    table = protected(truth, threshold)
    assert pgx_findings(table, truth, threshold) == []
    assert independent_reader(table, truth, threshold) == []
    shown = [v for r in table.records() for v in (r["persons"], r["exposures"])]
    assert not any(v.isdigit() and 1 <= int(v) < threshold for v in shown)


def test_a_change_since_the_previous_release_is_not_known_to_be_small() -> None:
    # late deliveries add 2 persons and 3 exposures to 2025 since the previous release
    before = truth_of({"2025": (40, 100)})
    after = truth_of({"2025": (42, 103)})
    previous = pgx_reader_ranges(protected({GROUP: before}), T)
    assert previous[(GROUP, (TOTAL, "persons"))] == (40, 40)
    # on its own the new table may show everything; beside the previous one it may not
    alone = protected({GROUP: after})
    assert pgx_findings(alone, {GROUP: after}, T) == []
    changes = pgx_findings(alone, {GROUP: after}, T, previous)
    assert any("change since the previous release" in f.cell for f in changes)
    result = protect_pgx({GROUP: after}, labels_of({GROUP: after}), COLUMNS, T, previous)
    assert pgx_findings(result.table, {GROUP: after}, T, previous) == []
    assert all(r["persons"] == "x" for r in result.table.records())


def test_the_release_folder_holds_the_pgx_table(tmp_path: Path) -> None:
    """CSV, manifest entry and workbook sheet, checked against the audited table by the
    writer's own artefact audit; the report mentions it."""
    cutoff = date(2026, 9, 30)
    summary_columns = (
        "product_code",
        "product_name",
        "indication_group",
        "indication_label",
        "period",
        "cutoff_date",
        "patients_treated",
        "response_evaluable",
        "toxicity_evaluable",
        "response_rate",
        "os_1y",
    )
    summary = ExportTable(
        "medicinraadet_followup_summary",
        summary_columns,
        (
            (
                "P",
                "Product",
                "I",
                "Indication",
                TOTAL,
                cutoff,
                "12",
                "12",
                "12",
                Decimal("0.5"),
                None,
            ),
        ),
    )
    truth = {GROUP: truth_of({"2024": (2, 9), "2025": (20, 50), "2026": (18, 45)})}
    pgx = protect_pgx(truth, labels_of(truth), COLUMNS, T)
    audited = AuditedRelease(
        cutoff,
        [summary, pgx.table],
        SuppressionShare(0, 0, 3),
        None,
        BuildInfo(cutoff, "invocation", "1.11.0", T),
        MEDICINRAADET,
        pgx.share(),
    )
    folder = _write_files(audited, tmp_path / "release", review_entry("builder"))
    written = (folder / f"{PGX}.csv").read_text(encoding="utf-8").splitlines()
    assert written[0] == ",".join(COLUMNS)
    assert len(written) == 1 + len(pgx.table.rows)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entries = {f["name"]: f for f in manifest["files"]}
    assert entries[f"{PGX}.csv"]["rows"] == 4
    assert manifest["disclosure_audit"]["pgx_count_cells"]["count_cells"] == 8
    book = load_workbook(folder / "medicinraadet_followup.xlsx", read_only=True)
    assert "Farmakogenetik" in book.sheetnames
    assert f"{PGX}.csv" in (folder / "medicinraadet_followup.html").read_text(encoding="utf-8")
