"""Protect the release's tables and write them into `exports`.

dbt builds exports.medicinraadet_followup_summary with its labels only (every count
blank) and exports.medicinraadet_followup_km and medicinraadet_followup_cif empty, so nothing in `exports` — which
researchers and Medicinrådet read — is ever unprotected. The release step computes the
protected tables here (secondary suppression by `protection`, curves by `curves` and
`incidence`), has them audited, and only then replaces the contents of those tables with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError
from medicinraadet_release.audit import (
    CURVES,
    INCIDENCE,
    OS_COLUMNS,
    RATES,
    SUMMARY,
    PreviousRanges,
    change_requirements,
)
from medicinraadet_release.cells import HORIZONS, MEASURES, TOTAL, Key, LinkedTable, Marker
from medicinraadet_release.curves import curve_rows, kaplan_meier, published_steps, survival_at
from medicinraadet_release.incidence import incidence_rows
from medicinraadet_release.inputs import Group, GroupTruth
from medicinraadet_release.protection import Unprotectable, protect
from medicinraadet_release.tables import EXPORT_SCHEMA, ExportTable, sort_key

LABEL_COLUMNS = (
    "product_code",
    "product_name",
    "indication_group",
    "indication_label",
    "period",
    "cutoff_date",
)
CURVE_COLUMNS = (
    "product_code",
    "indication_group",
    "time_days",
    "cutoff_date",
    "n_at_risk",
    "survival",
    "ci_lower",
    "ci_upper",
)
INCIDENCE_COLUMNS = (
    "product_code",
    "indication_group",
    "event_type",
    "time_days",
    "cutoff_date",
    "cumulative_incidence",
    "ci_lower",
    "ci_upper",
)


@dataclass(frozen=True)
class SuppressionShare:
    """How many count cells a release shows as "<T" or "≤T−1" (primary) or "x", out of how
    many, and how many
    treatment-year rows it leaves out (a product and indication published in total only)."""

    primary: int
    hidden: int
    cells: int
    rows_left_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count_cells": self.cells,
            "shown_as_small": self.primary,
            "shown_as_x": self.hidden,
            "share_not_shown": round((self.primary + self.hidden) / max(self.cells, 1), 4),
            "year_rows_left_out": self.rows_left_out,
        }


def read_labels(conn: psycopg.Connection) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The columns of exports.medicinraadet_followup_summary and the label part of each
    of its rows (dbt prepares them; the counts are filled in here)."""
    cursor = conn.execute(f"select * from {EXPORT_SCHEMA}.{SUMMARY}")
    columns = tuple(d.name for d in cursor.description or ())
    rows = [dict(zip(columns, row, strict=True)) for row in cursor]
    return columns, [{c: row[c] for c in LABEL_COLUMNS} for row in rows]


def protect_tables(
    truth: Mapping[Group, GroupTruth],
    labels: Sequence[Mapping[str, Any]],
    summary_columns: Sequence[str],
    *,
    cutoff: date,
    threshold: int,
    previous: PreviousRanges,
) -> tuple[list[ExportTable], SuppressionShare]:
    """The protected summary and curve tables of one release."""
    markers: dict[Group, dict[Key, Marker]] = {}
    for group, group_truth in sorted(truth.items()):
        markers[group] = _protect_group(group, group_truth, threshold, previous)
    summary_rows = [
        _summary_row(label, summary_columns, truth, markers, threshold)
        for label in labels
        if (label["period"], MEASURES[0])
        in markers[(label["product_code"], label["indication_group"])]
    ]
    curve = [
        (group[0], group[1], day, cutoff, _text(at_risk), _four(s), _four(lo), _four(hi))
        for group, group_truth in sorted(truth.items())
        if _curve_may_show(markers[group], group_truth, threshold)
        for day, at_risk, s, lo, hi in curve_rows(group_truth.subjects, threshold)
    ]
    # A cumulative-incidence curve starts at the patients treated, like the survival curve.
    incidence = [
        (group[0], group[1], event_type, day, cutoff, _four(f), _four(lo), _four(hi))
        for group, group_truth in sorted(truth.items())
        if markers[group].get((TOTAL, "patients_treated")) is Marker.SHOWN
        for event_type, subjects in sorted(group_truth.incidence.items())
        for day, f, lo, hi in incidence_rows(subjects, threshold)
    ]
    tables = [
        ExportTable(CURVES, CURVE_COLUMNS, tuple(sorted(curve))),
        ExportTable(INCIDENCE, INCIDENCE_COLUMNS, tuple(sorted(incidence))),
        ExportTable(SUMMARY, tuple(summary_columns), tuple(sorted(summary_rows, key=sort_key))),
    ]
    share = suppression_share(markers)
    # Counted against the truth, not the label rows: once a release has filled `exports`, a
    # second write of the same cut-off reads labels without the rows the first left out.
    periods = sum(len(group_truth.ordered_periods()) for group_truth in truth.values())
    return tables, replace(share, rows_left_out=periods - len(summary_rows))


def _protect_group(
    group: Group, truth: GroupTruth, threshold: int, previous: PreviousRanges
) -> dict[Key, Marker]:
    """The publication of one product and indication: by treatment year and in total, or,
    when the "<T" cells of the years would give each other away whatever is hidden, the
    total alone (its year rows are left out)."""
    try:
        return _protect_periods(group, truth, truth.ordered_periods(), threshold, previous)
    except Unprotectable:
        pass
    try:
        return _protect_periods(group, truth, [TOTAL], threshold, previous)
    except Unprotectable as exc:
        raise MedfollowError(
            f"{SUMMARY}: {group[0]}/{group[1]} cannot be protected: {exc}"
        ) from None


def _protect_periods(
    group: Group,
    truth: GroupTruth,
    periods: Sequence[str],
    threshold: int,
    previous: PreviousRanges,
) -> dict[Key, Marker]:
    values = {k: v for k, v in truth.values.items() if k[0] in periods}
    table = LinkedTable(periods, values)
    eligible = frozenset(
        (period, measure)
        for period in periods
        for horizon, measure in HORIZONS.items()
        if _survival_may_show(truth, period, horizon, threshold)
    )
    return protect(
        table,
        values,
        threshold,
        eligible_events=eligible,
        extra=change_requirements(group, values, previous, threshold),
    )


def _curve_may_show(markers: Mapping[Key, Marker], truth: GroupTruth, threshold: int) -> bool:
    """A curve starts at the number treated and drops by deaths: it is shown only where the
    total's patients are shown, and, if it drops at all, its deaths too (so it can reveal
    nothing the summary hides)."""
    if markers.get((TOTAL, "patients_treated")) is not Marker.SHOWN:
        return False
    deaths_shown = markers.get((TOTAL, "deaths")) is Marker.SHOWN
    return deaths_shown or not published_steps(kaplan_meier(truth.subjects), threshold)


def _survival_may_show(truth: GroupTruth, period: str, horizon: int, threshold: int) -> bool:
    """Reached, ≥ T at risk, deaths and persons left 0 or ≥ T, and for all years together
    on the published curve."""
    state = truth.horizons[(period, horizon)]
    events = truth.values[(period, HORIZONS[horizon])]
    left = truth.values[(period, "patients_treated")] - events
    if not state.reached or state.survival is None or state.at_risk < threshold:
        return False
    if 1 <= events < threshold or 1 <= left < threshold:
        return False
    if period != TOTAL:
        return True
    steps = kaplan_meier(truth.subjects)
    on_curve = survival_at(published_steps(steps, threshold), horizon)
    true_step = survival_at(steps, horizon)
    return (on_curve.time if on_curve else None) == (true_step.time if true_step else None)


def _summary_row(
    label: Mapping[str, Any],
    columns: Sequence[str],
    truth: Mapping[Group, GroupTruth],
    markers: Mapping[Group, Mapping[Key, Marker]],
    threshold: int,
) -> tuple[Any, ...]:
    group = (label["product_code"], label["indication_group"])
    period = label["period"]
    values = truth[group].values
    row: dict[str, Any] = dict(label)
    for measure in MEASURES:
        row[measure] = _count_text(
            markers[group][(period, measure)], values[(period, measure)], threshold
        )
    for rate, (numerator, denominator) in RATES.items():
        top, bottom = row[numerator], row[denominator]
        shown = top.isdigit() and bottom.isdigit() and int(bottom) > 0
        row[rate] = _three(int(top) / int(bottom)) if shown else None
    for horizon, column in OS_COLUMNS.items():
        state = truth[group].horizons[(period, horizon)]
        shown = markers[group][(period, HORIZONS[horizon])] is Marker.SHOWN
        row[column] = _three(state.survival) if shown else None
        row[f"{column}_ci_lower"] = _three(state.ci_lower) if shown else None
        row[f"{column}_ci_upper"] = _three(state.ci_upper) if shown else None
    return tuple(row.get(c) for c in columns)


def _count_text(marker: Marker, value: int, threshold: int) -> str:
    if marker is Marker.SHOWN:
        return str(value)
    if marker is Marker.SMALL:
        return f"<{threshold}"
    return f"≤{threshold - 1}" if marker is Marker.SUPPRESSED else "x"


def _three(value: float | None) -> Decimal | None:
    """As numeric(4,3) stores it."""
    return (
        None
        if value is None
        else Decimal(repr(float(value))).quantize(Decimal("0.001"), ROUND_HALF_UP)
    )


def _four(value: float) -> Decimal:
    """As numeric(5,4) stores it."""
    return Decimal(repr(value)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def suppression_share(markers: Mapping[Group, Mapping[Key, Marker]]) -> SuppressionShare:
    """Count cells (every count of every row, `MEASURES`) shown as "<T", "≤T−1" or "x"."""
    count_markers = [m for cells in markers.values() for k, m in cells.items() if k[1] in MEASURES]
    return SuppressionShare(
        primary=sum(1 for m in count_markers if m in (Marker.SMALL, Marker.SUPPRESSED)),
        hidden=sum(1 for m in count_markers if m is Marker.HIDDEN),
        cells=len(count_markers),
    )


def store_exports(conn: psycopg.Connection, tables: Sequence[ExportTable]) -> None:
    """Replace the contents of the export tables with the audited ones, in one transaction
    (the tables, their contracts and their grants stay dbt's)."""
    with conn.transaction():
        for table in tables:
            columns = ", ".join(table.columns)
            placeholders = ", ".join(["%s"] * len(table.columns))
            conn.execute(f"delete from {EXPORT_SCHEMA}.{table.name}")
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"insert into {EXPORT_SCHEMA}.{table.name} ({columns}) values ({placeholders})",
                    table.rows,
                )
