"""Writing one delivery folder: data files plus the manifest that vouches for them.

A delivery folder is rebuilt from scratch on every run so a re-run never leaves stale
files behind (which would make two runs with the same seed differ).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa

from medfollow_core.landing.manifest import write_manifest
from synthetic_deliveries.danish_csv import write_csv, write_parquet


class Delivery:
    """`OUT/landing/<source>/<delivery_id>/`, filled file by file, closed with a manifest."""

    def __init__(self, landing: Path, source: str, cutoff: date, delivery_id: str | None = None):
        self.source = source
        self.cutoff = cutoff
        self.delivery_id = delivery_id or f"{source}-{cutoff:%Y%m}"
        self.path = landing / source / self.delivery_id
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self.files: list[tuple[str, str, int]] = []

    def csv(self, name: str, table_name: str, table: pa.Table, *, encoding: str = "utf-8") -> None:
        rows = write_csv(table, self.path / name, encoding=encoding)
        self.files.append((name, table_name, rows))

    def parquet(self, name: str, table_name: str, table: pa.Table) -> None:
        rows = write_parquet(table, self.path / name)
        self.files.append((name, table_name, rows))

    def close(self) -> Path:
        write_manifest(
            self.path,
            source=self.source,
            delivery_id=self.delivery_id,
            cutoff_date=self.cutoff,
            files=self.files,
        )
        return self.path
