"""The release workbook: one sheet per export table with Danish column labels, and a
definitions sheet. Written byte-for-byte reproducibly: the document properties carry a
time derived from the cut-off, and every zip entry the same timestamp (openpyxl would
stamp both with the current time).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.writer.excel import ExcelWriter

from medicinraadet_release.labels import column_label, definitions, sheet_name
from medicinraadet_release.tables import ExportTable

_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


def write_workbook(path: Path, tables: list[ExportTable], *, cutoff: date, threshold: int) -> None:
    stamp = datetime(cutoff.year, cutoff.month, cutoff.day)
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        _table_sheet(book, table)
    _definitions_sheet(book, cutoff, threshold)
    book.properties.creator = "medfollow"
    book.properties.lastModifiedBy = "medfollow"
    book.properties.title = f"Opfølgning på ATMP til Medicinrådet, skæringsdato {cutoff:%d-%m-%Y}"
    book.properties.created = stamp
    book.properties.modified = stamp
    written = io.BytesIO()
    with zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()
    path.write_bytes(_restamped(written, stamp))


def _restamped(archive: io.BytesIO, stamp: datetime) -> bytes:
    """The same zip with every entry stamped `stamp` (openpyxl stamps the current time)."""
    out = io.BytesIO()
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with (
        zipfile.ZipFile(archive) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry.filename))
    return out.getvalue()


def _table_sheet(book: Workbook, table: ExportTable) -> None:
    sheet = book.create_sheet(sheet_name(table.name))
    sheet.append([column_label(c) for c in table.columns])
    for cell in sheet[1]:
        cell.font = _BOLD
        cell.alignment = _WRAP
    for row in table.rows:
        sheet.append([_cell_value(v) for v in row])
    for index, name in enumerate(table.columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(12, min(40, len(column_label(name)) + 2))
        if name.endswith("_date"):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"


def _definitions_sheet(book: Workbook, cutoff: date, threshold: int) -> None:
    sheet = book.create_sheet("Definitioner")
    sheet.append(["Begreb", "Definition"])
    for cell in sheet[1]:
        cell.font = _BOLD
    sheet.append(["Skæringsdato for denne udlevering", cutoff.isoformat()])
    for term, text in definitions(threshold):
        sheet.append([term, text])
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 110
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = _WRAP


def _cell_value(value: Any) -> Any:
    """Counts shown as digits become numbers in Excel; "<5" and "x" stay text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
