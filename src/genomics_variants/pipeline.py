"""The operations users run, end to end: ingest, remove, sync opt-outs, publish, look up.

Each changing operation updates the contribution store (contributions/) and then publishes
a new release (frequencies/): Parquet always, the warehouse's `variants.frequencies` too
when a warehouse DSN is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from genomics_variants.contributions.ingest import IngestResult, ingest_files
from genomics_variants.contributions.remove import RemovalResult, remove_persons
from genomics_variants.contributions.store import State, Store
from genomics_variants.contributions.warehouse import optouts_in_force
from genomics_variants.frequencies import postgres
from genomics_variants.frequencies.release import (
    Release,
    current_release,
    frequency_table,
    write_release,
)
from genomics_variants.vcf.qc import QCConfig
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from medfollow_core.types import Progress


@dataclass(frozen=True)
class Published:
    """The release an operation produced (None when nothing changed) and warehouse rows."""

    release: Release | None
    warehouse_rows: int | None


def publish(
    store: Store, state: State | None = None, *, warehouse_url: str | None = None
) -> Published:
    """Write a release of the store's state in force (and load it into the warehouse).

    Holding the store's write lock, so a release always shows the latest state even when
    two operations finish at once (`state`, if given and still in force, saves reading it).
    """
    with store.writer():
        if state is None or store.current_generation() != state.generation:
            state = store.load()
        table = frequency_table(state)
        release = write_release(store, state, table)
        rows = postgres.publish(warehouse_url, release, table) if warehouse_url else None
    return Published(release, rows)


def ingest(
    store_dir: Path,
    files: Sequence[Path],
    reference: Path,
    *,
    key: bytes | None = None,
    manifest: Path | None = None,
    warehouse_url: str | None = None,
    qc: str | QCConfig = "adj",
    workers: int = 2,
    on: date | None = None,
    exclude_persons: Iterable[str] = (),
    progress: Progress | None = None,
) -> tuple[IngestResult, Published]:
    """Add genomes and publish a release (nothing is published if no genome was added)."""
    store = Store(store_dir)
    config = QCConfig.named(qc) if isinstance(qc, str) else qc
    result = ingest_files(
        store,
        files,
        reference,
        key=key or load_key(),
        manifest=manifest,
        warehouse_url=warehouse_url,
        qc=config,
        workers=workers,
        on=on,
        exclude_persons=exclude_persons,
        progress=progress,
    )
    if not result.added:
        return result, Published(None, None)
    return result, publish(store, result.state, warehouse_url=warehouse_url)


def remove(
    store_dir: Path, person_keys: Iterable[str], *, warehouse_url: str | None = None
) -> tuple[RemovalResult, Published]:
    """Remove persons by person_key and publish a release without them."""
    store = Store(store_dir)
    result = remove_persons(store, person_keys)
    if not result.genomes:
        return result, Published(None, None)
    return result, publish(store, result.state, warehouse_url=warehouse_url)


def sync_optouts(
    store_dir: Path, warehouse_url: str, *, on: date | None = None
) -> tuple[RemovalResult, Published]:
    """Remove every stored person with an opt-out in force on `on` (default today)."""
    optouts = optouts_in_force(warehouse_url, on or date.today())
    if optouts is None:
        raise MedfollowError("the opt-out register (raw.optout__registreringer) is not loaded")
    return remove(store_dir, optouts, warehouse_url=warehouse_url)


def release_of(store_dir: Path) -> Release:
    """The current release of a store, refusing politely when there is none."""
    release = current_release(Store(store_dir))
    if release is None:
        raise MedfollowError(f"no release in {store_dir}: ingest genomes first")
    return release
