"""The two-person rule and the check of the written files, without a warehouse."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from medfollow_core.errors import MedfollowError
from medicinraadet_release.audit import artefact_findings
from medicinraadet_release.review import approve_release, review_entry, write_manifest
from medicinraadet_release.tables import ExportTable
from medicinraadet_release.workbook import write_workbook
from medicinraadet_release.writer import csv_bytes

TABLE = ExportTable(
    "medicinraadet_followup_summary",
    ("product_code", "indication_group", "period", "patients_treated"),
    (("P", "I", "total", "12"), ("P", "I", "2025", "<5")),
)


def _release(folder: Path, built_by: str) -> Path:
    folder.mkdir()
    (folder / "table.csv").write_bytes(b"a,b\n1,2\n")
    manifest = {
        "review": review_entry(built_by),
        "files": [
            {"name": "table.csv", "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()},
        ],
    }
    write_manifest(folder, manifest)
    return folder


def test_the_builder_cannot_approve_and_a_second_person_can(tmp_path: Path) -> None:
    release = _release(tmp_path / "r", "anna")
    with pytest.raises(MedfollowError, match="cannot approve it"):
        approve_release(release, " ANNA ")
    with pytest.raises(MedfollowError, match="reviewer's name"):
        approve_release(release, "  ")
    stamp = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
    approve_release(release, "bo", now=stamp)
    review = json.loads((release / "manifest.json").read_text(encoding="utf-8"))["review"]
    assert review == {
        "status": "approved",
        "built_by": "anna",
        "approved_by": "bo",
        "approved_at": "2026-10-02T09:30:00+00:00",
    }
    assert not (release / "manifest.json").stat().st_mode & 0o222
    with pytest.raises(MedfollowError, match="not awaiting review"):
        approve_release(release, "carl")


def test_a_changed_file_cannot_be_approved(tmp_path: Path) -> None:
    release = _release(tmp_path / "r", "anna")
    (release / "table.csv").write_bytes(b"a,b\n1,3\n")
    with pytest.raises(MedfollowError, match="changed after the release was written"):
        approve_release(release, "bo")


def test_written_files_must_show_only_audited_values(tmp_path: Path) -> None:
    csv_files = {f"{TABLE.name}.csv": csv_bytes(TABLE)}
    (tmp_path / f"{TABLE.name}.csv").write_bytes(csv_files[f"{TABLE.name}.csv"])
    write_workbook(tmp_path / "book.xlsx", [TABLE], cutoff=date(2026, 9, 30), threshold=5)
    (tmp_path / "report.html").write_text("<table><tr><td>12</td><td>&lt;5</td></tr></table>")
    assert artefact_findings(tmp_path, [TABLE], csv_files, "book.xlsx", "report.html") == []
    (tmp_path / "report.html").write_text("<table><tr><td>3</td></tr></table>")
    (tmp_path / f"{TABLE.name}.csv").write_bytes(b"product_code\nP\n")
    findings = artefact_findings(tmp_path, [TABLE], csv_files, "book.xlsx", "report.html")
    assert {f.table for f in findings} == {f"{TABLE.name}.csv", "report.html"}
