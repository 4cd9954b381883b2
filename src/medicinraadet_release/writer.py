"""Write a Medicinrådet release folder: CSV per export table, the XLSX workbook, the HTML
report and manifest.json (checksums, cut-off, code version, dbt invocation).

The folder is assembled under a temporary name beside its final place and renamed when
complete, so a release is either all there or absent; an existing release is never
overwritten, and its files are made read-only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.warehouse.connection import connect
from medicinraadet_release.report import render_report
from medicinraadet_release.tables import ExportTable, read_build_info, read_export_tables
from medicinraadet_release.workbook import write_workbook

RELEASE_DIR_ENV = "MEDFOLLOW_RELEASE_DIR"
WORKBOOK_NAME = "medicinraadet_followup.xlsx"
REPORT_NAME = "medicinraadet_followup.html"
MANIFEST_NAME = "manifest.json"


class ReleaseSkipped(MedfollowError):
    """Nothing to release now (already released, or the month's deliveries incomplete)."""


def release_root() -> Path:
    """Where scheduled releases go: $MEDFOLLOW_RELEASE_DIR, else <state dir>/releases."""
    configured = os.environ.get(RELEASE_DIR_ENV)
    return Path(configured) if configured else config.state_dir() / "releases"


def release_folder_name(cutoff: date) -> str:
    return f"medicinraadet-{cutoff.isoformat()}"


def write_release(url: str, cutoff: date, out_dir: Path) -> Path:
    """Write the release of `cutoff` into out_dir/medicinraadet-<cutoff>; returns its path.

    Refuses when the export tables in the warehouse were built for another cut-off, or when
    that release already exists.
    """
    target = Path(out_dir) / release_folder_name(cutoff)
    if target.exists():
        raise MedfollowError(f"release {target} already exists; releases are never overwritten")
    with connect(url) as conn:
        build = read_build_info(conn)
        if build.cutoff_date != cutoff:
            raise MedfollowError(
                f"the export tables are built for cut-off {build.cutoff_date}, not {cutoff}: "
                f"rebuild the marts with --vars '{{cutoff_date: {cutoff}}}' or release "
                f"{build.cutoff_date}"
            )
        tables = read_export_tables(conn)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files = {f"{t.name}.csv": _csv_bytes(t) for t in tables}
        write_workbook(
            staging / WORKBOOK_NAME, tables, cutoff=cutoff, threshold=build.disclosure_threshold
        )
        version = code_version()
        report = render_report(
            tables,
            cutoff=cutoff,
            threshold=build.disclosure_threshold,
            code_version=version,
            dbt_invocation_id=build.dbt_invocation_id,
        )
        files[REPORT_NAME] = report.encode("utf-8")
        for name, content in files.items():
            (staging / name).write_bytes(content)
        manifest = {
            "release": "medicinraadet",
            "cutoff_date": cutoff.isoformat(),
            "code_version": version,
            "dbt_invocation_id": build.dbt_invocation_id,
            "dbt_version": build.dbt_version,
            "disclosure_threshold": build.disclosure_threshold,
            "files": [
                _file_entry(staging / name, tables) for name in sorted([*files, WORKBOOK_NAME])
            ],
        }
        (staging / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        for path in staging.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
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


def publish_release(url: str, out_dir: Path, required_sources: Sequence[str]) -> Path:
    """The scheduled release: the cut-off the marts were built for, written once.

    Raises ReleaseSkipped when that release exists already, or when a source the marts read
    has no loaded delivery for the cut-off yet (a partial month is not released).
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
    missing = sorted(set(required_sources) - loaded)
    if missing:
        raise ReleaseSkipped(
            f"no release for cut-off {cutoff}: no loaded delivery yet from {', '.join(missing)}"
        )
    if (Path(out_dir) / release_folder_name(cutoff)).exists():
        raise ReleaseSkipped(f"the release for cut-off {cutoff} exists already")
    return write_release(url, cutoff, out_dir)


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


def _csv_bytes(table: ExportTable) -> bytes:
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
    "ReleaseSkipped",
    "code_version",
    "publish_release",
    "release_folder_name",
    "release_root",
    "write_release",
]
