"""Writing one delivery folder: data files plus the manifest that vouches for them.

A delivery folder is rebuilt from scratch on every run so a re-run never leaves stale
files behind (which would make two runs with the same seed differ).

A delivery may be one month of a longer simulated world (`generate_rounds`): the writer
then passes each row's delivery day, and the folder keeps only what the source sends for
that month - its whole state as of the cut-off for a snapshot source, the rows that became
known since the previous cut-off for an incremental one (the mode its contract declares).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from medfollow_core.landing.contracts import contract_for
from medfollow_core.landing.manifest import write_manifest
from synthetic_deliveries.danish_csv import day_number, write_csv, write_parquet


class Delivery:
    """`OUT/landing/<source>/<delivery_id>/`, filled file by file, closed with a manifest.

    `since` is the previous round's cut-off (None for a first or only delivery).
    """

    def __init__(
        self,
        landing: Path,
        source: str,
        cutoff: date,
        delivery_id: str | None = None,
        *,
        since: date | None = None,
    ):
        self.source = source
        self.cutoff = cutoff
        self.delivery_id = delivery_id or f"{source}-{cutoff:%Y%m}"
        self.path = landing / source / self.delivery_id
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self.files: list[tuple[str, str, int]] = []
        incremental = since is not None and contract_for(source).mode == "increment"
        self._after = day_number(since) if incremental and since is not None else None
        self._until = day_number(cutoff)

    def csv(
        self,
        name: str,
        table_name: str,
        table: pa.Table,
        *,
        encoding: str = "utf-8",
        days: np.ndarray | None = None,
    ) -> None:
        rows = write_csv(self._this_month(table, days), self.path / name, encoding=encoding)
        self.files.append((name, table_name, rows))

    def parquet(
        self, name: str, table_name: str, table: pa.Table, *, days: np.ndarray | None = None
    ) -> None:
        rows = write_parquet(self._this_month(table, days), self.path / name)
        self.files.append((name, table_name, rows))

    def _this_month(self, table: pa.Table, days: np.ndarray | None) -> pa.Table:
        """The rows this delivery sends, from `days` (the day each row became known)."""
        if days is None:
            return table
        keep = np.asarray(days) <= self._until
        if self._after is not None:
            keep &= np.asarray(days) > self._after
        return table if keep.all() else table.filter(pa.array(keep))

    def close(self) -> Path:
        write_manifest(
            self.path,
            source=self.source,
            delivery_id=self.delivery_id,
            cutoff_date=self.cutoff,
            files=self.files,
        )
        return self.path
