"""Write a Medicinrådet release folder: CSV per export table, the XLSX workbook, the HTML
report and manifest.json (checksums, cut-off, code version, dbt invocation, the disclosure
audit and the review).

The tables are protected from the unprotected counts in `staging` (`exports`; the
actionable pharmacogenetic exposures by `pgx`, when there are any), audited
together with the previous release (`audit`), stored into `exports`, and only then
written; a release the audit refuses is not written, and the error names the cell. The
written files are audited once more against the tables. The folder is assembled under a
temporary name beside its final place and renamed when complete, so a release is either
all there or absent; an existing release is never overwritten, and its files are made
read-only. A new release is "awaiting review" until a second person approves it
(`review`).
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.connection import connect
from medicinraadet_release.audit import (
    SUMMARY,
    Finding,
    PreviousRanges,
    artefact_findings,
    audit_release,
    pgx_reader_ranges,
    reader_ranges,
)
from medicinraadet_release.exports import (
    SuppressionShare,
    protect_tables,
    read_labels,
    store_exports,
)
from medicinraadet_release.inputs import read_truth
from medicinraadet_release.pgx import (
    PGX,
    PgxRanges,
    protect_pgx,
    read_pgx_labels,
    read_pgx_truth,
)
from medicinraadet_release.policy import MEDICINRAADET, DisclosurePolicy
from medicinraadet_release.report import render_report
from medicinraadet_release.review import review_entry, write_manifest
from medicinraadet_release.tables import BuildInfo, ExportTable, read_build_info
from medicinraadet_release.workbook import write_workbook

WORKBOOK_NAME = "medicinraadet_followup.xlsx"
REPORT_NAME = "medicinraadet_followup.html"
FOLDER_PATTERN = re.compile(r"medicinraadet-(\d{4}-\d{2}-\d{2})")
SHOWN_FINDINGS = 3


class ReleaseSkipped(MedfollowError):
    """Nothing to release now (already released, or the month's deliveries incomplete)."""


class DisclosureRefused(MedfollowError):
    """The output checker found a disclosure: the release is not written."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        shown = "; ".join(str(f) for f in findings[:SHOWN_FINDINGS])
        more = len(findings) - SHOWN_FINDINGS
        super().__init__(
            f"release refused by the disclosure audit ({len(findings)} finding(s)): {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
        self.findings = list(findings)


def release_root() -> Path:
    """Where scheduled releases go: $MEDFOLLOW_RELEASE_DIR, else <shared root>/releases."""
    return config.release_dir()


def release_folder_name(cutoff: date) -> str:
    return f"medicinraadet-{cutoff.isoformat()}"


@dataclass(frozen=True)
class AuditedRelease:
    """The protected tables of one cut-off that passed the audit, and what the manifest
    says about them."""

    cutoff: date
    tables: list[ExportTable]
    share: SuppressionShare
    previous_name: str | None
    build: BuildInfo
    policy: DisclosurePolicy
    # exports.pgx_actionable_exposures' count cells; None without genomes (no pgx file)
    pgx_share: dict[str, Any] | None = None


def protect_exports(
    url: str,
    cutoff: date,
    out_dir: Path,
    policy: DisclosurePolicy = MEDICINRAADET,
    *,
    against_itself: bool = False,
) -> AuditedRelease:
    """Protect the cut-off's counts, audit them with the previous release in out_dir (with
    `against_itself`, the release of this very cut-off), and store them into `exports`
    (what researchers and Medicinrådet read). Raises DisclosureRefused, leaving `exports`
    as it was, when the audit finds a disclosure."""
    previous_name, previous = previous_release(
        Path(out_dir), cutoff, policy.threshold, inclusive=against_itself
    )
    with connect(url) as conn:
        build = read_build_info(conn)
        if build.cutoff_date != cutoff:
            raise MedfollowError(
                f"the export tables are built for cut-off {build.cutoff_date}, not {cutoff}: "
                f"rebuild the marts with --vars '{{cutoff_date: {cutoff}}}' or release "
                f"{build.cutoff_date}"
            )
        truth = read_truth(conn)
        columns, labels = read_labels(conn)
        tables, share = protect_tables(
            truth, labels, columns, cutoff=cutoff, threshold=policy.threshold, previous=previous
        )
        pgx_truth = read_pgx_truth(conn)
        pgx_share = None
        pgx_previous = previous_pgx(Path(out_dir), previous_name, policy.threshold)
        if pgx_truth:
            pgx_columns, pgx_labels = read_pgx_labels(conn)
            pgx = protect_pgx(pgx_truth, pgx_labels, pgx_columns, policy.threshold, pgx_previous)
            tables.append(pgx.table)
            pgx_share = pgx.share()
        findings = audit_release(tables, truth, policy.threshold, previous, pgx_truth, pgx_previous)
        if findings:
            raise DisclosureRefused(findings)
        store_exports(conn, tables)
    return AuditedRelease(cutoff, tables, share, previous_name, build, policy, pgx_share)


def write_release(
    url: str,
    cutoff: date,
    out_dir: Path,
    *,
    built_by: str | None = None,
    policy: DisclosurePolicy = MEDICINRAADET,
) -> Path:
    """Protect, audit and write the release of `cutoff` into out_dir/medicinraadet-<cutoff>
    ("awaiting review", built by `built_by`, default the current user); returns its path.

    Refuses when the export tables in the warehouse were built for another cut-off, when
    that release already exists, or when the audit finds a disclosure.
    """
    target = Path(out_dir) / release_folder_name(cutoff)
    if target.exists():
        raise MedfollowError(f"release {target} already exists; releases are never overwritten")
    review = review_entry(built_by or getpass.getuser())
    return _write_files(protect_exports(url, cutoff, out_dir, policy), target, review)


def _write_files(audited: AuditedRelease, target: Path, review: dict[str, Any]) -> Path:
    """The release folder of audited tables, assembled beside its place and renamed."""
    tables, cutoff, policy, build = audited.tables, audited.cutoff, audited.policy, audited.build
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        csv_files = {f"{t.name}.csv": csv_bytes(t) for t in tables}
        files = dict(csv_files)
        write_workbook(staging / WORKBOOK_NAME, tables, cutoff=cutoff, threshold=policy.threshold)
        version = code_version()
        report = render_report(
            tables,
            cutoff=cutoff,
            threshold=policy.threshold,
            code_version=version,
            dbt_invocation_id=build.dbt_invocation_id,
        )
        files[REPORT_NAME] = report.encode("utf-8")
        for name, content in files.items():
            (staging / name).write_bytes(content)
        written = artefact_findings(staging, tables, csv_files, WORKBOOK_NAME, REPORT_NAME)
        if written:
            raise DisclosureRefused(written)
        manifest = {
            "release": "medicinraadet",
            "cutoff_date": cutoff.isoformat(),
            "code_version": version,
            "dbt_invocation_id": build.dbt_invocation_id,
            "dbt_version": build.dbt_version,
            "disclosure_threshold": policy.threshold,
            "disclosure_audit": {
                "recipient": policy.recipient,
                "result": "passed",
                "findings": [],
                "previous_release": audited.previous_name,
                "checks": [
                    "counts",
                    "interval audit (linear programming over linked cells and complements)",
                    "changes since the previous release",
                    "rates",
                    "survival at 1 and 2 years",
                    "Kaplan-Meier drops and numbers at risk",
                    "cumulative-incidence rises",
                    "files against the audited tables",
                ],
                "count_cells": audited.share.as_dict(),
                **(
                    {}
                    if audited.pgx_share is None
                    else {
                        "pgx_count_cells": audited.pgx_share,
                        "pgx_checks": [
                            "counts",
                            "interval audit (linear programming over each drug, gene, "
                            "phenotype and recommendation class: years sum to the total, "
                            "persons within exposures)",
                        ],
                    }
                ),
            },
            "review": review,
            "files": [
                _file_entry(staging / name, tables) for name in sorted([*files, WORKBOOK_NAME])
            ],
        }
        for path in staging.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        write_manifest(staging, manifest)
        try:
            staging.rename(target)
        except OSError:
            raise MedfollowError(
                f"release {target} already exists; releases are never overwritten"
            ) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def previous_release(
    out_dir: Path, cutoff: date, threshold: int, *, inclusive: bool = False
) -> tuple[str | None, PreviousRanges]:
    """The latest release in out_dir before `cutoff` (or at it, `inclusive`) and what its
    readers know of each count."""
    earlier = sorted(
        (date.fromisoformat(m.group(1)), p)
        for p in (out_dir.iterdir() if out_dir.is_dir() else [])
        if (m := FOLDER_PATTERN.fullmatch(p.name))
        and (
            date.fromisoformat(m.group(1)) < cutoff
            or (inclusive and m.group(1) == cutoff.isoformat())
        )
    )
    if not earlier:
        return None, {}
    folder = earlier[-1][1]
    with (folder / f"{SUMMARY}.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        columns = tuple(next(reader))
        rows = tuple(tuple(v if v != "" else None for v in row) for row in reader)
    return folder.name, reader_ranges(ExportTable(SUMMARY, columns, rows), threshold)


def previous_pgx(out_dir: Path, previous_name: str | None, threshold: int) -> PgxRanges:
    """What readers of the previous release know of its pgx counts (nothing when it had
    no pgx file: written without genomes, or before the table existed)."""
    path = out_dir / previous_name / f"{PGX}.csv" if previous_name else None
    if path is None or not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        columns = tuple(next(reader))
        rows = tuple(tuple(v if v != "" else None for v in row) for row in reader)
    return pgx_reader_ranges(ExportTable(PGX, columns, rows), threshold)


def publish_release(
    url: str, out_dir: Path, required_sources: Sequence[str], *, built_by: str
) -> Path:
    """The scheduled release: the cut-off the marts were built for, written once.

    Raises ReleaseSkipped when a source the marts read has no loaded delivery for the
    cut-off yet (a partial month is not released, and `exports` keep no counts: what they
    show is always a written release's), or when that release exists already: then the
    exports are protected and stored again (a dbt build leaves them without counts), audited
    against that release itself, so whatever a rebuild changed is disclosure-controlled too.
    """
    with connect(url) as conn:
        cutoff = read_build_info(conn).cutoff_date
        loaded = {
            r[0]
            for r in conn.execute(
                "select distinct source from audit.deliveries "
                "where status = 'loaded' and cutoff_date = %s",
                (cutoff,),
            )
        }
    review = review_entry(built_by)
    missing = sorted(set(required_sources) - loaded)
    if missing:
        raise ReleaseSkipped(
            f"no release for cut-off {cutoff}: no loaded delivery yet from {', '.join(missing)}"
        )
    target = Path(out_dir) / release_folder_name(cutoff)
    if target.exists():
        protect_exports(url, cutoff, out_dir, against_itself=True)
        raise ReleaseSkipped(f"the release for cut-off {cutoff} exists already")
    return _write_files(protect_exports(url, cutoff, out_dir), target, review)


def code_version() -> str:
    """`git describe` of the checkout when there is one, else the installed package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--tags", "--always"],
            cwd=config.PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return described or f"medfollow {metadata.version('medfollow')}"


def csv_bytes(table: ExportTable) -> bytes:
    """A table as the release's CSV file (UTF-8, comma, ISO dates, blank for missing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([_csv_value(v) for v in row] for row in table.rows)
    return buffer.getvalue().encode("utf-8")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _file_entry(path: Path, tables: Sequence[ExportTable]) -> dict[str, Any]:
    content = path.read_bytes()
    entry: dict[str, Any] = {
        "name": path.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "bytes": len(content),
    }
    rows = {f"{t.name}.csv": len(t.rows) for t in tables}
    if path.name in rows:
        entry["rows"] = rows[path.name]
    return entry


__all__ = [
    "DisclosureRefused",
    "ReleaseSkipped",
    "code_version",
    "previous_release",
    "protect_exports",
    "publish_release",
    "release_folder_name",
    "release_root",
    "write_release",
]
