"""Medicinrådet releases: the disclosure-controlled export tables of one data cut-off, as
CSV, one XLSX workbook and a self-contained HTML report, with a manifest of checksums.

A release is immutable: its folder is written once (atomically, by renaming a finished
temporary folder) and never overwritten, and the same cut-off always gives the same bytes,
so a table Medicinrådet holds can be traced and reproduced. Before it is written, its
tables are protected (`protection`, `curves`) and audited as an attacker would read them
(`audit`); it is then "awaiting review" until a second person approves it (`review`).
"""

from medicinraadet_release.review import approve_release
from medicinraadet_release.writer import (
    DisclosureRefused,
    ReleaseSkipped,
    publish_release,
    release_folder_name,
    release_root,
    write_release,
)

__all__ = [
    "DisclosureRefused",
    "ReleaseSkipped",
    "approve_release",
    "publish_release",
    "release_folder_name",
    "release_root",
    "write_release",
]
