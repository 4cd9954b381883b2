"""The landing area: where delivery folders arrive, one per source and delivery.

Layout: ``<landing>/<source>/<delivery_id>/manifest.json`` plus the data files. A folder is
pending until ``audit.deliveries`` records it as loaded; a folder without a manifest yet is
still being written and is left alone until its manifest appears (senders write it last).
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from medfollow_core import config
from medfollow_core.landing.manifest import MANIFEST_NAME, Manifest, ManifestError


def landing_dir() -> Path:
    return Path(os.environ.get("MEDFOLLOW_LANDING_DIR", config.state_dir() / "landing")).resolve()


def delivery_dirs(landing: Path, source: str) -> list[Path]:
    """Complete delivery folders for a source, oldest delivery id first."""
    base = landing / source
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / MANIFEST_NAME).exists())


def pending_deliveries(landing: Path, source: str, url: str) -> list[Path]:
    """Delivery folders of ``source`` not yet dealt with: neither loaded, nor refused (a
    refused one is fixed and re-sent under a new id, or re-run by an engineer), nor skipped
    (an older snapshot superseded by a loaded newer one)."""
    candidates = delivery_dirs(landing, source)
    if not candidates:
        return []
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select delivery_id from audit.deliveries "
            "where source = %s and status in ('loaded', 'refused', 'skipped')",
            (source,),
        ).fetchall()
    done = {r[0] for r in rows}
    return [p for p in candidates if _delivery_id(p) not in done]


def _delivery_id(folder: Path) -> str:
    """The id the audit table knows a delivery by: its manifest's, else the folder name."""
    try:
        return Manifest.read(folder).delivery_id
    except ManifestError:
        return folder.name
