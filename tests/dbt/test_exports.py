"""The Medicinrådet exports and release on a real warehouse: dbt leaves no count in
`exports`; the release step protects, audits and fills them; the demo-sized synthetic
release passes the audit while the old suppression (int_medicinraadet_cells, macro
suppress_small_counts) fails it; a refused release is not written; and a release waits for
a second person's approval.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from medfollow.cli.release import app as release_app
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from medicinraadet_release import (
    DisclosureRefused,
    ReleaseSkipped,
    approve_release,
    publish_release,
    write_release,
)
from medicinraadet_release.audit import SUMMARY, audit_release
from medicinraadet_release.cells import MEASURES, TOTAL
from medicinraadet_release.inputs import read_truth
from medicinraadet_release.tables import ExportTable
from rwd_linkage.run import run_linkage
from support.marts import load_deliveries, platform_environment, rows, run_dbt
from synthetic_deliveries import generate

pytestmark = pytest.mark.integration

CUTOFF = date(2026, 9, 30)
THRESHOLD = 5


@pytest.fixture(scope="module")
def url(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    synth = tmp_path_factory.mktemp("exports_synth")
    work = tmp_path_factory.mktemp("exports_dbt")
    generate(synth, persons=3000, seed=21, cutoff=CUTOFF)
    load_deliveries(synth / "landing", db_url, load_key())
    run_linkage(db_url, load_key())
    # Only what the exports need, and without upstream data tests: the marts' own tests
    # belong to tests/dbt/test_marts.py and must not decide whether exports are tested.
    selection = ["--select", "+path:models/exports", "+int_medicinraadet_cells"]
    legacy = ["--vars", "{build_legacy_suppression: true}"]  # the "before" comparison
    build = run_dbt(db_url, ["build", *selection, "--exclude", "test_type:data", *legacy], work)
    assert build.success, (build.failures(), build.exception)
    checks = run_dbt(
        db_url,
        ["test", "--select", "path:models/exports", "assert_no_small_counts_exported"],
        work,
    )
    assert checks.success and checks.statuses, (checks.failures(), checks.exception)
    return db_url


@pytest.fixture(scope="module")
def release(url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo-sized release, written once for the module (after the first test has seen
    what dbt alone leaves in exports)."""
    return write_release(url, CUTOFF, tmp_path_factory.mktemp("releases"), built_by="builder")


def _old_summary(url: str) -> ExportTable:
    """The summary as the old suppression published it ("x" then meant at least 5)."""
    cells = rows(url, "select * from staging.int_medicinraadet_cells")
    by_row: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(dict)
    for c in cells:
        key = (c["product_code"], c["indication_group"], c["period"])
        by_row[key][c["measure"]] = c["display_value"]
    survival = [f"os_{y}y{suffix}" for y in (1, 2) for suffix in ("", "_ci_lower", "_ci_upper")]
    columns = ("product_code", "indication_group", "period", *MEASURES, *survival)
    table_rows = tuple(
        (*key, *(values[m] for m in MEASURES), *([None] * len(survival)))
        for key, values in by_row.items()
    )
    return ExportTable(SUMMARY, columns, table_rows)


def _share_hidden(summary: ExportTable) -> str:
    cells = [r[m] for r in summary.records() for m in MEASURES]
    hidden = sum(1 for c in cells if not c.isdigit())
    return f"{hidden}/{len(cells)} = {hidden / len(cells):.1%}"


def test_dbt_leaves_no_count_in_exports(url: str) -> None:
    summary = rows(url, "select * from exports.medicinraadet_followup_summary")
    assert summary and all(r[m] is None for r in summary for m in MEASURES)
    assert all(r["os_1y"] is None and r["response_rate"] is None for r in summary)
    assert rows(url, "select * from exports.medicinraadet_followup_km") == []
    assert rows(url, "select * from exports.medicinraadet_followup_cif") == []


def test_the_old_exports_give_cells_away_and_the_release_does_not(url: str, release: Path) -> None:
    """Two attacks that worked on the old exports: a complement within a row (evaluable −
    responders of 1..4) and hidden cells pinned by the total. The audit (the attacker's
    linear programs) finds them in the old suppression and nothing in the release."""
    with psycopg.connect(url) as conn:
        truth = read_truth(conn)
    old = _old_summary(url)
    complements = [
        r
        for r in old.records()
        if r["response_evaluable"].isdigit()
        and r["responders"].isdigit()
        and 1 <= int(r["response_evaluable"]) - int(r["responders"]) < THRESHOLD
    ]
    old_findings = audit_release([old], truth, THRESHOLD, {})
    print(f"old suppression: {len(old_findings)} audit findings, e.g. {old_findings[:2]}")
    assert complements or old_findings
    assert any("narrows" in f.reason or "pinned" in f.reason for f in old_findings)
    new = rows(url, "select * from exports.medicinraadet_followup_summary")
    assert not [
        r
        for r in new
        if r["response_evaluable"].isdigit()
        and r["responders"].isdigit()
        and 1 <= int(r["response_evaluable"]) - int(r["responders"]) < THRESHOLD
    ]
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["disclosure_audit"]["result"] == "passed"
    assert manifest["disclosure_audit"]["findings"] == []
    new = manifest["disclosure_audit"]["count_cells"]
    print(
        f"count cells not shown: old {_share_hidden(old)}, new "
        f"{new['shown_as_small'] + new['shown_as_x']}/{new['count_cells']} = "
        f"{new['share_not_shown']:.1%}"
    )


def test_exports_hold_exactly_the_audited_release(url: str, release: Path) -> None:
    summary = (release / "medicinraadet_followup_summary.csv").read_text(encoding="utf-8")
    exported = rows(url, "select * from exports.medicinraadet_followup_summary")
    assert len(summary.splitlines()) == len(exported) + 1
    assert all(r[m] is not None for r in exported for m in MEASURES)
    assert any(f"<{THRESHOLD}" in (r[m] for m in MEASURES) for r in exported)
    with psycopg.connect(url) as conn:
        conn.execute("set role medfollow_researcher")
        shown = conn.execute("select count(*) from exports.medicinraadet_followup_km")
        assert shown.fetchone()[0] > 0
        incidence = conn.execute("select count(*) from exports.medicinraadet_followup_cif")
        published = incidence.fetchone()[0]
    cif = (release / "medicinraadet_followup_cif.csv").read_text(encoding="utf-8")
    assert published > 0 and len(cif.splitlines()) == published + 1


def test_a_release_failing_the_audit_is_not_written_and_names_the_cell(
    url: str, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medicinraadet_release import exports, writer

    def leaky(*args: Any, **kwargs: Any) -> tuple[list[ExportTable], Any]:
        tables, share = exports.protect_tables(*args, **kwargs)
        summary = next(t for t in tables if t.name == SUMMARY)
        index = summary.columns.index("deaths")
        truth = args[0]
        rows_ = []
        for row in summary.rows:
            if row[index] == f"<{THRESHOLD}":
                group = (row[0], row[2])
                true = truth[group].values[(row[summary.columns.index("period")], "deaths")]
                row = (*row[:index], str(true), *row[index + 1 :])
            rows_.append(row)
        leaked = ExportTable(summary.name, summary.columns, tuple(rows_))
        return [t if t.name != SUMMARY else leaked for t in tables], share

    monkeypatch.setattr(writer, "protect_tables", leaky)
    with pytest.raises(DisclosureRefused, match=r"deaths: a count of 1\.\.4 is shown") as refused:
        write_release(url, CUTOFF, tmp_path, built_by="builder")
    assert refused.value.findings
    assert list(tmp_path.iterdir()) == []


def test_a_release_waits_for_a_second_person(release: Path, tmp_path: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["review"] == {
        "status": "awaiting review",
        "built_by": "builder",
        "approved_by": None,
    }
    with pytest.raises(MedfollowError, match="cannot approve it"):
        approve_release(release, "Builder")
    result = CliRunner().invoke(
        release_app, ["approve", str(release), "--reviewer", "second person"]
    )
    assert result.exit_code == 0, result.output
    approved = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert approved["review"]["status"] == "approved"
    assert approved["review"]["built_by"] == "builder"
    assert approved["review"]["approved_by"] == "second person"
    with pytest.raises(MedfollowError, match="not awaiting review"):
        approve_release(release, "third person")


def test_the_cli_writes_a_release_awaiting_review(url: str, tmp_path: Path) -> None:
    with platform_environment(url):
        result = CliRunner().invoke(
            release_app,
            ["medicinraadet", "--cutoff", "2026-09-30", "--out", str(tmp_path), "--builder", "a"],
        )
    assert result.exit_code == 0, result.output
    assert "awaiting review" in result.output


def test_a_change_since_the_previous_release_is_hidden(
    url: str, release: Path, tmp_path: Path
) -> None:
    """An earlier release showing a total 2 below today's (and no years): today's total
    would tell that 2 patients were treated in between, so it is hidden and the release
    still passes the audit, which includes that earlier release."""
    earlier = tmp_path / "medicinraadet-2026-08-31"
    shutil.copytree(release, earlier)
    summary = earlier / f"{SUMMARY}.csv"
    with summary.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or [])
        rows_ = list(reader)
    total = next(
        r
        for r in rows_
        if r["period"] == TOTAL
        and r["patients_treated"].isdigit()
        and int(r["patients_treated"]) >= 7
    )
    changed = (total["product_code"], total["indication_group"])
    before = int(total["patients_treated"]) - 2
    for measure in MEASURES:  # what was counted then could not exceed the patients then
        if total[measure].isdigit():
            total[measure] = str(min(int(total[measure]), before))
    kept = [
        r
        for r in rows_
        if (r["product_code"], r["indication_group"]) != changed or r["period"] == TOTAL
    ]
    summary.unlink()
    with summary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    written = write_release(url, CUTOFF, tmp_path, built_by="builder")
    manifest = json.loads((written / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["disclosure_audit"]["previous_release"] == earlier.name
    shown = {
        (r["product_code"], r["indication_group"]): r["patients_treated"]
        for r in rows(url, "select * from exports.medicinraadet_followup_summary")
        if r["period"] == TOTAL
    }
    assert shown[changed] == "x"


def test_the_scheduled_release_waits_for_review_and_refills_exports(
    url: str, tmp_path: Path
) -> None:
    folder = publish_release(url, tmp_path, ["cpr"], built_by="airflow:followup_marts")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["review"]["status"] == "awaiting review"
    assert manifest["review"]["built_by"] == "airflow:followup_marts"
    with psycopg.connect(url) as conn:  # what a dbt rebuild leaves
        conn.execute("update exports.medicinraadet_followup_summary set deaths = null")
    with pytest.raises(ReleaseSkipped, match="no loaded delivery yet from nowhere"):
        publish_release(url, tmp_path, ["cpr", "nowhere"], built_by="airflow:followup_marts")
    assert all(r["deaths"] is None for r in rows(url, "select * from exports." + SUMMARY))
    with pytest.raises(ReleaseSkipped, match="exists already"):
        publish_release(url, tmp_path, ["cpr"], built_by="airflow:followup_marts")
    exported = rows(url, "select * from exports." + SUMMARY)
    assert all(r["deaths"] is not None for r in exported)
    assert len(exported) + 1 == len(
        (folder / f"{SUMMARY}.csv").read_text(encoding="utf-8").splitlines()
    )
