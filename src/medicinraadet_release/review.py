"""The two-person rule: a written release waits for a second, named person to approve it.

The builder is recorded when the release is written (status "awaiting review"); approval
by anyone else re-checks every file against the manifest's checksums, so what is approved
is exactly what the audit passed, and then records the reviewer and the time (status
"approved": the release may be delivered). Only the manifest changes; it is replaced
atomically and stays read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medfollow_core.errors import MedfollowError

MANIFEST_NAME = "manifest.json"
AWAITING_REVIEW = "awaiting review"
APPROVED = "approved"


def review_entry(built_by: str) -> dict[str, Any]:
    """The manifest's review section of a release just written."""
    if not built_by.strip():
        raise MedfollowError("a release needs a named builder")
    return {"status": AWAITING_REVIEW, "built_by": built_by.strip(), "approved_by": None}


def approve_release(folder: Path, reviewer: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Approve the release in `folder` as `reviewer`; returns the new manifest."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise MedfollowError(f"{folder} is not a release (no {MANIFEST_NAME})")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    review = manifest.get("review") or {}
    if review.get("status") != AWAITING_REVIEW:
        raise MedfollowError(
            f"{folder.name} is not awaiting review (status: {review.get('status')})"
        )
    name = reviewer.strip()
    if not name:
        raise MedfollowError("approval needs the reviewer's name (--reviewer)")
    if name.casefold() == str(review.get("built_by", "")).casefold():
        raise MedfollowError(
            f"{name} built {folder.name} and cannot approve it: a second person must review it"
        )
    for entry in manifest["files"]:
        content = (Path(folder) / entry["name"]).read_bytes()
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise MedfollowError(f"{entry['name']} changed after the release was written")
    stamp = (now or datetime.now(UTC)).replace(microsecond=0)
    manifest["review"] = {
        **review,
        "status": APPROVED,
        "approved_by": name,
        "approved_at": stamp.isoformat(),
    }
    write_manifest(Path(folder), manifest)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json read-only, replacing any earlier one in one rename."""
    partial = folder / f".{MANIFEST_NAME}.partial-{os.getpid()}"
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    partial.replace(folder / MANIFEST_NAME)
