"""Delivery manifests: the receipt that travels with every delivery folder (written by senders
and by the synthetic generator, checked by every ingest).

A manifest names the source, the delivery id and the data cut-off date, and lists each
file with its sha256 and row count, so the ingest side can refuse a delivery whose files
were truncated or altered in transit. The JSON is written with sorted keys and no
timestamps so that the same generator seed gives byte-identical manifests.

Reading a manifest trusts nothing in it: it must be a regular file of a manifest's size, UTF-8
JSON without a byte-order mark, and every field must have its type (``"rows": "504"`` or a
numeric ``delivery_id`` is refused with one line, never a traceback further on).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from medfollow_core.errors import MedfollowError
from medfollow_core.landing.delivered import open_regular, shown

MANIFEST_NAME = "manifest.json"

MAX_MANIFEST_BYTES = 4 << 20
"""A manifest lists files, not data: 4 MiB holds tens of thousands of entries."""

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_FILE_FIELDS = {"name", "table", "rows", "sha256", "encoding"}


class ManifestError(MedfollowError, ValueError):
    """A manifest that cannot be trusted as written: the delivery is refused with this line.
    (A ValueError too, for callers that caught what ``json`` and ``date`` used to raise.)"""


@dataclass(frozen=True)
class ManifestFile:
    """One data file of a delivery; `table` is the logical table the file holds.

    ``sha256`` is kept lower-case (Windows tools print it upper-case); ``encoding`` is the
    sender's declaration for this file, if any (the manifest-wide one applies otherwise).
    """

    name: str
    table: str
    rows: int
    sha256: str
    encoding: str | None = None


@dataclass(frozen=True)
class Manifest:
    source: str
    delivery_id: str
    cutoff_date: date
    files: tuple[ManifestFile, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    encoding: str | None = None

    def to_json(self) -> str:
        doc = {
            "source": self.source,
            "delivery_id": self.delivery_id,
            "cutoff_date": self.cutoff_date.isoformat(),
            "files": [_file_doc(f) for f in self.files],
            **self.extra,
        }
        if self.encoding is not None:
            doc["encoding"] = self.encoding
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def encoding_of(self, entry: ManifestFile) -> str | None:
        """The encoding the sender declares for ``entry``: its own, else the manifest's."""
        return entry.encoding or self.encoding

    @classmethod
    def read(cls, delivery_dir: Path) -> Manifest:
        """The folder's manifest; ManifestError (one line) if it is not a valid one."""
        return cls.parse(manifest_bytes(delivery_dir))

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse and type-check manifest.json's bytes: every field has the type it must have,
        so nothing downstream meets a number where it expects a name (or the reverse)."""
        if data.startswith(codecs.BOM_UTF8):
            raise ManifestError(
                f"{MANIFEST_NAME} starts with a byte-order mark; save it as UTF-8 without BOM"
            )
        try:
            doc = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"{MANIFEST_NAME} is not UTF-8 (byte offset {exc.start}); save it as UTF-8"
            ) from None
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"{MANIFEST_NAME} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno})"
            ) from None
        except RecursionError:
            raise ManifestError(f"{MANIFEST_NAME} is nested too deeply to be a manifest") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{MANIFEST_NAME} must hold a JSON object, not {_kind(doc)}")
        files = doc.get("files")
        if not isinstance(files, list):
            raise ManifestError(f"{MANIFEST_NAME}: files must be a list, not {_kind(files)}")
        parsed = tuple(_file(f, i) for i, f in enumerate(files))
        _no_repeats(parsed)
        known = {"source", "delivery_id", "cutoff_date", "files", "encoding"}
        return cls(
            source=_text(doc, "source"),
            delivery_id=_text(doc, "delivery_id"),
            cutoff_date=_day(doc, "cutoff_date"),
            files=parsed,
            extra={k: v for k, v in doc.items() if k not in known},
            encoding=_text(doc, "encoding") if "encoding" in doc else None,
        )


def manifest_bytes(delivery_dir: Path) -> bytes:
    """manifest.json's content, read only if it is a regular file of a manifest's size."""
    try:
        with open_regular(delivery_dir / MANIFEST_NAME) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except MedfollowError as exc:
        raise ManifestError(str(exc)) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
    return data


def _file_doc(entry: ManifestFile) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": entry.name,
        "table": entry.table,
        "rows": entry.rows,
        "sha256": entry.sha256,
    }
    if entry.encoding is not None:
        doc["encoding"] = entry.encoding
    return doc


def _kind(value: object) -> str:
    """A JSON value's kind for a message; the value itself is never quoted (it could be
    anything, a CPR number included)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _text(doc: dict[str, Any], key: str, where: str = "") -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(
            f"{MANIFEST_NAME}: {where}{key} must be a non-empty string, not {_kind(value)}"
        )
    return value


def _day(doc: dict[str, Any], key: str) -> date:
    value = _text(doc, key)
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ManifestError(f"{MANIFEST_NAME}: {key} must be a real date as YYYY-MM-DD") from None


def _file(doc: object, index: int) -> ManifestFile:
    where = f"files[{index}]."
    if not isinstance(doc, dict):
        raise ManifestError(f"{MANIFEST_NAME}: files[{index}] must be an object, not {_kind(doc)}")
    unknown = sorted(str(k) for k in doc if k not in _FILE_FIELDS)
    if unknown:
        raise ManifestError(f"{MANIFEST_NAME}: {where[:-1]} has unknown field {shown(unknown[0])}")
    rows = doc.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows < 2**63:
        raise ManifestError(
            f"{MANIFEST_NAME}: {where}rows must be a whole number ≥ 0, not {_kind(rows)}"
        )
    sha = _text(doc, "sha256", where)
    if not _SHA256.fullmatch(sha):
        raise ManifestError(f"{MANIFEST_NAME}: {where}sha256 must be 64 hexadecimal digits")
    return ManifestFile(
        name=_text(doc, "name", where),
        table=_text(doc, "table", where),
        rows=rows,
        sha256=sha.lower(),
        encoding=_text(doc, "encoding", where) if "encoding" in doc else None,
    )


def _no_repeats(files: tuple[ManifestFile, ...]) -> None:
    """A file listed twice would be vouched for by two entries that may disagree: refused.
    (A table may span files: a genome delivery lists one VCF per sample.)"""
    seen: set[str] = set()
    for entry in files:
        if entry.name in seen:
            raise ManifestError(f"{MANIFEST_NAME} lists file {shown(entry.name)} twice")
        seen.add(entry.name)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Lower-case hex sha256 of a regular file (see `open_regular`)."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
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
