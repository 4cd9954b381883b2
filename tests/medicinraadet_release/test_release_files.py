"""The release's files from given tables, without a warehouse: the workbook is the same
bytes every time and speaks Danish, the report is one self-contained HTML file, and an
existing release is refused before anything else happens."""

from __future__ import annotations

import base64
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from medfollow_core.errors import MedfollowError
from medicinraadet_release import release_folder_name, write_release
from medicinraadet_release.report import render_report
from medicinraadet_release.tables import ExportTable
from medicinraadet_release.workbook import write_workbook

CUTOFF = date(2026, 9, 30)
SUMMARY_COLUMNS = (
    "product_code",
    "product_name",
    "indication_group",
    "indication_label",
    "period",
    "cutoff_date",
    "patients_treated",
    "deaths",
    "response_evaluable",
    "responders",
    "complete_responders",
    "toxicity_evaluable",
    "crs_grade3plus",
    "icans_grade3plus",
    "icu_30d",
    "response_rate",
    "complete_response_rate",
    "crs_grade3plus_rate",
    "icans_grade3plus_rate",
    "icu_30d_rate",
    "os_1y",
    "os_1y_ci_lower",
    "os_1y_ci_upper",
    "os_2y",
    "os_2y_ci_lower",
    "os_2y_ci_upper",
)


def _summary_row(period: str, treated: str, rate: Decimal | None) -> tuple:
    values = {
        "product_code": "YESCARTA",
        "product_name": "Yescarta",
        "indication_group": "DLBCL",
        "indication_label": "Diffuse large B-cell lymphoma",
        "period": period,
        "cutoff_date": CUTOFF,
        "patients_treated": treated,
        "deaths": "<5",
        "response_evaluable": treated,
        "responders": "x",
        "complete_responders": "<5",
        "toxicity_evaluable": treated,
        "crs_grade3plus": "0",
        "icans_grade3plus": "<5",
        "icu_30d": "<5",
        "response_rate": rate,
        "os_1y": Decimal("0.812"),
        "os_1y_ci_lower": Decimal("0.601"),
        "os_1y_ci_upper": Decimal("0.921"),
    }
    return tuple(values.get(c) for c in SUMMARY_COLUMNS)


@pytest.fixture
def tables() -> list[ExportTable]:
    summary = ExportTable(
        name="medicinraadet_followup_summary",
        columns=SUMMARY_COLUMNS,
        rows=(_summary_row("2025", "9", None), _summary_row("total", "12", Decimal("0.667"))),
    )
    curve = ExportTable(
        name="medicinraadet_followup_km",
        columns=(
            "product_code",
            "indication_group",
            "time_days",
            "cutoff_date",
            "n_at_risk",
            "survival",
            "ci_lower",
            "ci_upper",
        ),
        rows=tuple(
            (
                "YESCARTA",
                "DLBCL",
                day,
                CUTOFF,
                str(12 - day // 60) if day < 420 else "<5",
                None if 30 <= day < 90 else Decimal(1 - day / 1000),
                None if 30 <= day < 90 else Decimal(0.9 - day / 1000),
                None if 30 <= day < 90 else Decimal(1),
            )
            for day in range(0, 600, 30)
        ),
    )
    return [summary, curve]


def test_workbook_is_the_same_bytes_every_time(tables: list[ExportTable], tmp_path: Path) -> None:
    write_workbook(tmp_path / "a.xlsx", tables, cutoff=CUTOFF, threshold=5)
    write_workbook(tmp_path / "b.xlsx", tables, cutoff=CUTOFF, threshold=5)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.xlsx") as archive:
        assert {i.date_time for i in archive.infolist()} == {(2026, 9, 30, 0, 0, 0)}


def test_workbook_has_danish_labels_and_definitions(
    tables: list[ExportTable], tmp_path: Path
) -> None:
    write_workbook(tmp_path / "r.xlsx", tables, cutoff=CUTOFF, threshold=5)
    book = load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["Opfølgning", "Overlevelseskurver", "Definitioner"]
    header = [c.value for c in book["Opfølgning"][1]]
    assert header[:7] == [
        "Produktkode",
        "Produkt",
        "Indikationsgruppe",
        "Indikation",
        "Periode (behandlingsår)",
        "Skæringsdato",
        "Behandlede patienter",
    ]
    assert book["Opfølgning"]["G2"].value == 9 and book["Opfølgning"]["H2"].value == "<5"
    terms = [row[0].value for row in book["Definitioner"].iter_rows(min_row=2)]
    assert "<5" in terms and "x" in terms
    assert book.properties.created == book.properties.modified == datetime(2026, 9, 30)


def test_report_is_one_self_contained_html_file(tables: list[ExportTable]) -> None:
    html = render_report(
        tables, cutoff=CUTOFF, threshold=5, code_version="v1", dbt_invocation_id="abc"
    )
    assert html == render_report(
        tables, cutoff=CUTOFF, threshold=5, code_version="v1", dbt_invocation_id="abc"
    )
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # response, toxicity, one survival curve
    for image in images:
        png = base64.b64decode(image)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "Skæringsdato 30-09-2026" in html and "&lt;5" in html


def test_an_existing_release_is_refused_before_the_warehouse_is_read(tmp_path: Path) -> None:
    (tmp_path / release_folder_name(CUTOFF)).mkdir()
    with pytest.raises(MedfollowError, match="already exists"):
        write_release("postgresql://nobody@127.0.0.1:1/none", CUTOFF, tmp_path)


def test_workbook_bytes_do_not_depend_on_the_clock(
    tables: list[ExportTable], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workbook(tmp_path / "a.xlsx", tables, cutoff=CUTOFF, threshold=5)
    monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)
    write_workbook(tmp_path / "b.xlsx", tables, cutoff=CUTOFF, threshold=5)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
