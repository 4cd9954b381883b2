"""Medicinrådet releases: the disclosure-controlled export tables of one data cut-off, as
CSV, one XLSX workbook and a self-contained HTML report, with a manifest of checksums.

A release is immutable: its folder is written once (atomically, by renaming a finished
temporary folder) and never overwritten, and the same cut-off always gives the same bytes,
so a table Medicinrådet holds can be traced and reproduced.
"""

from medicinraadet_release.writer import (
    ReleaseSkipped,
    publish_release,
    release_folder_name,
    release_root,
    write_release,
)

__all__ = [
    "ReleaseSkipped",
    "publish_release",
    "release_folder_name",
    "release_root",
    "write_release",
]
