"""Actionable pharmacogenetic exposures through the same disclosure control as the
Medicinrådet tables.

dbt builds exports.pgx_actionable_exposures with its labels only (every count blank) and
the unprotected counts in staging.int_pgx__actionable_exposure_counts. Each group — a
drug (ATC), gene, phenotype and CPIC recommendation class — is one `LinkedTable`: every
exposure year and the total, measures persons and exposures, years summing to the total
(persons are counted in the year of their first actionable exposure in the group, so they
add up), and persons ⊆ exposures in every period (each person counted in a year has their
first exposure in it). `protect` chooses the cells to hide exactly as for Medicinrådet,
with the same threshold, and `audit.pgx_findings` reads the result with the same linear
programs. A group whose years cannot be protected is published as its total alone.

Without genomes (no staging table, or no rows in it) there is nothing to publish: the
release then has no pgx file at all and is otherwise written exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.catalog import table_exists
from medicinraadet_release.cells import (
    TOTAL,
    Key,
    LinkedTable,
    Marker,
    Requirement,
    difference_requirement,
)
from medicinraadet_release.inputs import STAGING
from medicinraadet_release.protection import Unprotectable, protect
from medicinraadet_release.tables import EXPORT_SCHEMA, ExportTable, sort_key

PGX = "pgx_actionable_exposures"
PGX_COUNTS = "int_pgx__actionable_exposure_counts"
PGX_MEASURES: tuple[str, ...] = ("persons", "exposures")
# (outer, inner): every person counted in a period has an exposure in it (their first).
PGX_NESTING: tuple[tuple[str, str], ...] = (("exposures", "persons"),)
PGX_LABELS = ("atc_code", "drug", "gene", "phenotype", "recommendation_class", "period")
PgxGroup = tuple[str, str, str, str]  # (atc_code, gene, phenotype, recommendation_class)
# what a reader of the previous release knows of each count: its feasible range
PgxRanges = dict[tuple[PgxGroup, Key], tuple[float, float]]


@dataclass
class PgxTruth:
    """The unprotected counts of one drug, gene, phenotype and recommendation class."""

    periods: list[str] = field(default_factory=list)
    values: dict[Key, int] = field(default_factory=dict)

    def ordered_periods(self) -> list[str]:
        """Years in order, then the total."""
        return [*sorted(p for p in self.periods if p != TOTAL), TOTAL]


def pgx_group(row: Mapping[str, Any]) -> PgxGroup:
    return (row["atc_code"], row["gene"], row["phenotype"], row["recommendation_class"])


def pgx_table(periods: Sequence[str], keys: Iterable[Key]) -> LinkedTable:
    """The linked cells of one group as a reader knows them: a listed period had at least
    one exposure, so its exposures and the total's persons are at least 1, and so are the
    persons of the earliest listed year (whoever was exposed then was exposed first then)."""
    years = sorted(p for p in periods if p != TOTAL)
    positive = {(p, "exposures") for p in periods} | {(TOTAL, "persons")}
    if years and TOTAL in periods:
        positive.add((years[0], "persons"))
    return LinkedTable(periods, keys, PGX_NESTING, positive=positive)


def read_pgx_truth(conn: psycopg.Connection) -> dict[PgxGroup, PgxTruth]:
    """The unprotected counts per group; empty in a deployment without genomes (the model
    is not built, or has no rows)."""
    if not table_exists(conn, f"{STAGING}.{PGX_COUNTS}"):
        return {}
    groups: dict[PgxGroup, PgxTruth] = {}
    for atc, gene, phenotype, recommendation, period, persons, exposures in conn.execute(
        f"select atc_code, gene, phenotype, recommendation_class, period, persons, exposures "
        f"from {STAGING}.{PGX_COUNTS}"
    ):
        truth = groups.setdefault((atc, gene, phenotype, recommendation), PgxTruth())
        truth.periods.append(period)
        truth.values[(period, "persons")] = int(persons)
        truth.values[(period, "exposures")] = int(exposures)
    return groups


def read_pgx_labels(conn: psycopg.Connection) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The columns of exports.pgx_actionable_exposures and the label part of its rows."""
    if not table_exists(conn, f"{EXPORT_SCHEMA}.{PGX}"):
        raise MedfollowError(
            f"staging.{PGX_COUNTS} has counts but {EXPORT_SCHEMA}.{PGX} does not exist: "
            "build the exports"
        )
    cursor = conn.execute(f"select * from {EXPORT_SCHEMA}.{PGX}")
    columns = tuple(d.name for d in cursor.description or ())
    return columns, [
        {c: value for c, value in zip(columns, row, strict=True) if c in PGX_LABELS}
        for row in cursor
    ]


@dataclass(frozen=True)
class PgxProtected:
    """The protected table, its markers per group, and how many year rows it leaves out."""

    table: ExportTable
    markers: dict[PgxGroup, dict[Key, Marker]]
    rows_left_out: int

    def share(self) -> dict[str, Any]:
        """Count cells shown as "<T" or "≤T−1", as "x", out of how many (for the manifest)."""
        cells = [m for group in self.markers.values() for m in group.values()]
        small = sum(1 for m in cells if m in (Marker.SMALL, Marker.SUPPRESSED))
        hidden = sum(1 for m in cells if m is Marker.HIDDEN)
        return {
            "count_cells": len(cells),
            "shown_as_small": small,
            "shown_as_x": hidden,
            "share_not_shown": round((small + hidden) / max(len(cells), 1), 4),
            "year_rows_left_out": self.rows_left_out,
        }


def protect_pgx(
    truth: Mapping[PgxGroup, PgxTruth],
    labels: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    threshold: int,
    previous: PgxRanges | None = None,
) -> PgxProtected:
    """The protected exports.pgx_actionable_exposures: a label row is filled when its
    group publishes its period, and left out otherwise (a group published in total only).
    `previous`: what readers of the previous release know, so no count's change since then
    is known to be 1..T−1."""
    markers = {
        group: protect_pgx_group(group, group_truth, threshold, previous or {})
        for group, group_truth in sorted(truth.items())
    }
    rows = []
    for label in labels:
        group = pgx_group(label)
        period = label["period"]
        if group not in markers or (period, PGX_MEASURES[0]) not in markers[group]:
            continue
        row = dict(label)
        for measure in PGX_MEASURES:
            key = (period, measure)
            row[measure] = count_text(markers[group][key], truth[group].values[key], threshold)
        rows.append(tuple(row.get(c) for c in columns))
    periods = sum(len(t.ordered_periods()) for t in truth.values())
    table = ExportTable(PGX, tuple(columns), tuple(sorted(rows, key=sort_key)))
    return PgxProtected(table, markers, periods - len(rows))


def protect_pgx_group(
    group: PgxGroup, truth: PgxTruth, threshold: int, previous: PgxRanges | None = None
) -> dict[Key, Marker]:
    """By year and in total, or, when the years' small cells would give each other away
    whatever is hidden, the total alone."""
    for periods in (truth.ordered_periods(), [TOTAL]):
        values = {k: v for k, v in truth.values.items() if k[0] in periods}
        extra = pgx_change_requirements(group, values, previous or {}, threshold)
        try:
            return protect(pgx_table(periods, values), values, threshold, extra=extra)
        except Unprotectable as exc:
            failure = exc
    raise MedfollowError(f"{PGX}: {'/'.join(group)} cannot be protected: {failure}")


def pgx_change_requirements(
    group: PgxGroup, values: Mapping[Key, int], previous: PgxRanges, threshold: int
) -> list[Requirement]:
    """Requirements on the counts whose change since the previous release would be known
    to be 1..T−1 (the same rule as for the Medicinrådet counts)."""
    found = []
    for key, value in sorted(values.items()):
        if (group, key) in previous:
            requirement = difference_requirement(key, value, previous[(group, key)], threshold)
            if requirement is not None:
                found.append(requirement)
    return found


def count_text(marker: Marker, value: int, threshold: int) -> str:
    """A count as published: the number, "<T", "≤T−1" or "x"."""
    if marker is Marker.SHOWN:
        return str(value)
    if marker is Marker.SMALL:
        return f"<{threshold}"
    return f"≤{threshold - 1}" if marker is Marker.SUPPRESSED else "x"
