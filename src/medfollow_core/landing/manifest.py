"""Delivery manifests: the receipt that travels with every delivery folder (written by senders
and by the synthetic generator, checked by every ingest).

A manifest names the source, the delivery id and the data cut-off date, and lists each
file with its sha256 and row count, so the ingest side can refuse a delivery whose files
were truncated or altered in transit. The JSON is written with sorted keys and no
timestamps so that the same generator seed gives byte-identical manifests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ManifestFile:
    """One data file of a delivery; `table` is the logical table the file holds."""

    name: str
    table: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    source: str
    delivery_id: str
    cutoff_date: date
    files: tuple[ManifestFile, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "source": self.source,
            "delivery_id": self.delivery_id,
            "cutoff_date": self.cutoff_date.isoformat(),
            "files": [
                {"name": f.name, "table": f.table, "rows": f.rows, "sha256": f.sha256}
                for f in self.files
            ],
            **self.extra,
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, delivery_dir: Path) -> Manifest:
        doc = json.loads((delivery_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        known = {"source", "delivery_id", "cutoff_date", "files"}
        return cls(
            source=doc["source"],
            delivery_id=doc["delivery_id"],
            cutoff_date=date.fromisoformat(doc["cutoff_date"]),
            files=tuple(ManifestFile(**f) for f in doc["files"]),
            extra={k: v for k, v in doc.items() if k not in known},
        )


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(
    delivery_dir: Path,
    *,
    source: str,
    delivery_id: str,
    cutoff_date: date,
    files: list[tuple[str, str, int]],
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Hash each `(file name, table, rows)` in `delivery_dir` and write manifest.json."""
    manifest = Manifest(
        source=source,
        delivery_id=delivery_id,
        cutoff_date=cutoff_date,
        files=tuple(
            ManifestFile(name=name, table=table, rows=rows, sha256=sha256_of(delivery_dir / name))
            for name, table, rows in files
        ),
        extra=extra or {},
    )
    (delivery_dir / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
