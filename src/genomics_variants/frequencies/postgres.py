"""Publish a release to the warehouse: `variants.releases`, `variants.frequencies` and
`variants.coverage` (AN at every callable site, one row per interval and stratum with AN > 0).

`variants.frequencies` holds one row per (release, variant, stratum) with the stratum's
counts (strata with no called allele are left out, except `all` for a variant seen only in
samples of unknown coverage: it carries `seen_unknown_coverage`), indexed for look-up by variant id and by
locus. `variants.releases` says which release is current; `variants.current_frequencies`
is the view most readers want. A release is loaded and made current in one transaction,
so readers see the previous release until the new one is complete; the previous release
is kept, older ones are deleted. After an opt-out removal every other release is deleted in
the same transaction (`keep_previous=False`): each held the removed person's counts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from psycopg import sql

from genomics_variants.frequencies.release import Release
from genomics_variants.frequencies.strata import STRATA, UNKNOWN_COVERAGE_FIELD, column
from medfollow_core.warehouse.connection import connect
from medfollow_core.warehouse.copy import copy_table

LONG_FIELDS = (
    "ac",
    "an",
    "af",
    "nhomalt",
    "nhemi",
    "faf95",
    "call_rate",
    "ac_raw",
    "an_raw",
    "af_raw",
    "nhomalt_raw",
    "nhemi_raw",
)


def long_table(release_id: str, table: pa.Table) -> pa.Table:
    """One row per variant and stratum with any called allele (raw AN > 0), and the `all`
    row of every variant (it carries the grpmax fields and seen_unknown_coverage)."""
    parts = []
    for stratum in STRATA:
        called = table.column(column("an_raw", stratum)).to_numpy() > 0
        keep = np.flatnonzero(called | (stratum == "all"))
        if not len(keep):
            continue
        picked = table.take(pa.array(keep))
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "release_id": pa.array([release_id] * len(keep), pa.string()),
            **{c: picked.column(c) for c in ("variant_id", "chrom", "pos", "ref", "alt")},
            "stratum": pa.array([stratum] * len(keep), pa.string()),
        }
        for field in LONG_FIELDS:
            columns[field] = picked.column(column(field, stratum))
        for field in ("grpmax", "grpmax_af", "faf95_max", UNKNOWN_COVERAGE_FIELD):
            values = picked.column(field)
            columns[field] = values if stratum == "all" else pa.nulls(len(keep), values.type)
        parts.append(pa.table(columns))
    return pa.concat_tables(parts) if parts else pa.table({})


def coverage_rows(release_id: str, coverage: pa.Table) -> pa.Table:
    """One row per callable interval and stratum with AN > 0 (coverage.py)."""
    parts = []
    for stratum in STRATA:
        an = coverage.column(column("an", stratum))
        keep = np.flatnonzero(an.to_numpy() > 0)
        picked = coverage.take(pa.array(keep))
        parts.append(
            pa.table(
                {
                    "release_id": pa.array([release_id] * len(keep), pa.string()),
                    "chrom": picked.column("chrom"),
                    "start_pos": picked.column("start"),
                    "end_pos": picked.column("end"),
                    "stratum": pa.array([stratum] * len(keep), pa.string()),
                    "an": picked.column(column("an", stratum)),
                }
            )
        )
    return pa.concat_tables(parts)


def current_release_id(url: str) -> str | None:
    """The release the warehouse serves as current, if any."""
    with connect(url) as conn:
        row = conn.execute("select release_id from variants.releases where is_current").fetchone()
    return None if row is None else str(row[0])


def publish(url: str, release: Release, *, keep_previous: bool = True) -> int:
    """Load `release` into the warehouse and make it current, deleting all other releases
    unless `keep_previous` (then the previous stays); returns rows loaded. The release's
    Parquet table is read and loaded a row group at a time."""
    loaded = 0
    with connect(url) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('medfollow.variants.publish'))")
        conn.execute(
            "insert into variants.releases (release_id, created_at, release_date, sample_count, "
            "variant_count) values (%s, %s, %s, %s, %s) on conflict (release_id) do nothing",
            (
                release.release_id,
                release.meta["created_at"],
                release.meta["date"],
                release.sample_count,
                release.meta["variant_count"],
            ),
        )
        conn.execute(
            "delete from variants.frequencies where release_id = %s", (release.release_id,)
        )
        for group in release.frequency_row_groups():
            rows = long_table(release.release_id, group)
            if rows.num_rows:
                copy_table(conn, sql.Identifier("variants", "frequencies"), rows)
            loaded += rows.num_rows
        conn.execute("delete from variants.coverage where release_id = %s", (release.release_id,))
        for group in release.coverage_row_groups():
            coverage = coverage_rows(release.release_id, group)
            if coverage.num_rows:
                copy_table(conn, sql.Identifier("variants", "coverage"), coverage)
        previous = conn.execute(
            "select release_id from variants.releases where is_current and release_id <> %s",
            (release.release_id,),
        ).fetchall()
        keep = [release.release_id, *(r[0] for r in previous if keep_previous)]
        conn.execute(
            "update variants.releases set is_current = (release_id = %s)", (release.release_id,)
        )
        conn.execute("delete from variants.releases where release_id <> all(%s)", (keep,))
    return loaded
