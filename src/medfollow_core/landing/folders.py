"""The landing area: where delivery folders arrive, one per source and delivery.

Layout: ``<landing>/<source>/<delivery_id>/manifest.json`` plus the data files. A folder is
pending until ``audit.deliveries`` records it as loaded; a folder without a manifest yet is
still being written and is left alone until its manifest appears (senders write it last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg

from medfollow_core import config
from medfollow_core.landing.manifest import MANIFEST_NAME, Manifest, ManifestError


def landing_dir() -> Path:
    return config.landing_dir()


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


@dataclass(frozen=True)
class Readiness:
    """Pending deliveries split into those that may load now and those that wait (and why)."""

    ready: list[Path] = field(default_factory=list)
    waiting: dict[Path, str] = field(default_factory=dict)


def ready_deliveries(landing: Path, source: str, url: str, *, after: str | None) -> Readiness:
    """Pending deliveries of ``source`` whose cut-off the ``after`` source has caught up with.

    A source checked against another one (rows against the CPR register, genomes against the
    opt-out register) must be checked against that source *of its own cut-off*: a lab
    delivery for September validated against August's register would quarantine every
    person born or immigrated in September as unknown. So a delivery is ready only once a
    delivery of ``after`` with the same or a later cut-off is loaded; until then it waits,
    whatever order the deliveries arrive or the DAGs run in. A folder whose manifest cannot
    be read is ready: loading it is what refuses it, with the reason, in the audit.
    """
    pending = pending_deliveries(landing, source, url)
    if after is None or not pending:
        return Readiness(ready=pending)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select max(cutoff_date) from audit.deliveries where source = %s and status = 'loaded'",
            (after,),
        ).fetchone()
    caught_up: date | None = row[0] if row else None
    readiness = Readiness()
    for folder in pending:
        cutoff = _cutoff(folder)
        if cutoff is None or (caught_up is not None and cutoff <= caught_up):
            readiness.ready.append(folder)
        else:
            latest = f"latest loaded: {caught_up}" if caught_up else "none loaded yet"
            readiness.waiting[folder] = f"waits for {after} of cut-off {cutoff} ({latest})"
    return readiness


def _cutoff(folder: Path) -> date | None:
    try:
        return Manifest.read(folder).cutoff_date
    except ManifestError:
        return None


def _delivery_id(folder: Path) -> str:
    """The id the audit table knows a delivery by: its manifest's, else the folder name."""
    try:
        return Manifest.read(folder).delivery_id
    except ManifestError:
        return folder.name
