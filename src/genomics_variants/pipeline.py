"""The operations users run, end to end: ingest, remove, sync opt-outs, publish, look up.

Each changing operation updates the contribution store (contributions/) and then publishes
a new release (frequencies/) if the release discipline allows one (frequencies/discipline.py:
at least `min_change` genomes added or removed, default 20; a removal always publishes):
Parquet always, the warehouse's `variants.frequencies` too when a warehouse DSN is given.
After a removal nothing older keeps the person: older releases (Parquet and warehouse) are
deleted and every recorded export is rewritten from the new release.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from genomics_variants.contributions.ingest import IngestResult, ingest_files
from genomics_variants.contributions.remove import RemovalResult, remove_persons, without_genomes
from genomics_variants.contributions.store import State, Store
from genomics_variants.contributions.warehouse import optouts_in_force
from genomics_variants.frequencies import postgres
from genomics_variants.frequencies.discipline import MIN_CHANGE, plan_release
from genomics_variants.frequencies.export import refresh_exports
from genomics_variants.frequencies.release import (
    Release,
    current_release,
    released_genomes,
    write_release,
)
from genomics_variants.vcf.qc import QCConfig
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from medfollow_core.types import Progress


@dataclass(frozen=True)
class Published:
    """The release an operation produced (None when none was due), warehouse rows, and why
    no release was made (`held`) or how many genomes a removal release withheld."""

    release: Release | None
    warehouse_rows: int | None
    held: str | None = None
    withheld: int = 0


def publish(
    store: Store,
    state: State | None = None,
    *,
    warehouse_url: str | None = None,
    min_change: int = MIN_CHANGE,
    spark: Any | None = None,
) -> Published:
    """Write a release of the store's state in force (and load it into the warehouse) when
    the release discipline allows one; after a removal, purge what is older. With a Spark
    session, the release's parts are written by its executors (release.py).

    Holding the store's write lock, so a release always shows the latest state even when
    two operations finish at once (`state`, if given and still in force, saves reading it).
    """
    with store.writer():
        if state is None or store.current_generation() != state.generation:
            state = store.load()
        previous = current_release(store)
        stored = state.samples.column("genome_id").to_pylist()
        plan = plan_release(released_genomes(previous), stored, min_change)
        if plan is None:
            rows = _sync_warehouse(warehouse_url, previous) if warehouse_url else None
            return Published(None, rows, held=_held(previous, min_change))
        view = without_genomes(store, state, set(stored) - plan.genomes)
        keep = not plan.purge
        release = write_release(
            store, view, withheld=plan.withheld, keep_previous=keep, spark=spark
        )
        rows = (
            postgres.publish(warehouse_url, release, keep_previous=keep) if warehouse_url else None
        )
        if plan.purge:
            refresh_exports(release)
    return Published(release, rows, withheld=len(plan.withheld))


def _sync_warehouse(url: str, release: Release | None) -> int | None:
    """Make a warehouse that does not serve the store's current release (a new or restored
    warehouse, or one missed by a removal) serve it and nothing else, when no new release is
    due; rows loaded, None if nothing to do."""
    if release is None or postgres.current_release_id(url) == release.release_id:
        return None
    return postgres.publish(url, release, keep_previous=False)


def _held(previous: Release | None, min_change: int) -> str:
    """Why no release was made, for the user who expected one."""
    since = f"since {previous.release_id}" if previous else "for a first release"
    return (
        f"fewer than {min_change} genomes added or removed {since}: the release waits for "
        "more (releases never move one genome at a time)"
    )


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
    min_change: int = MIN_CHANGE,
    spark: Any | None = None,
) -> tuple[IngestResult, Published]:
    """Add genomes and publish a release if enough genomes changed (see publish); with a
    Spark session, the aggregate is updated on Spark (contributions/spark.py)."""
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
        spark=spark,
    )
    if not result.added:
        return result, Published(None, None)
    return result, publish(
        store, result.state, warehouse_url=warehouse_url, min_change=min_change, spark=spark
    )


def remove(
    store_dir: Path,
    person_keys: Iterable[str],
    *,
    warehouse_url: str | None = None,
    min_change: int = MIN_CHANGE,
    spark: Any | None = None,
) -> tuple[RemovalResult, Published]:
    """Remove persons by person_key and publish a release without them (always: a removal
    takes effect at once; see frequencies/discipline.py for how it is masked); with a Spark
    session, the aggregate is updated on Spark (contributions/spark.py)."""
    store = Store(store_dir)
    result = remove_persons(store, person_keys, spark=spark)
    if not result.genomes:
        return result, Published(None, None)
    return result, publish(
        store, result.state, warehouse_url=warehouse_url, min_change=min_change, spark=spark
    )


def sync_optouts(
    store_dir: Path,
    warehouse_url: str,
    *,
    on: date | None = None,
    min_change: int = MIN_CHANGE,
    spark: Any | None = None,
) -> tuple[RemovalResult, Published]:
    """Remove every stored person with an opt-out in force on `on` (default today)."""
    optouts = optouts_in_force(warehouse_url, on or date.today())
    if optouts is None:
        raise MedfollowError("the opt-out register (raw.optout__registreringer) is not loaded")
    return remove(
        store_dir, optouts, warehouse_url=warehouse_url, min_change=min_change, spark=spark
    )


def release_of(store_dir: Path) -> Release:
    """The current release of a store, refusing politely when there is none."""
    release = current_release(Store(store_dir))
    if release is None:
        raise MedfollowError(f"no release in {store_dir}: ingest genomes first")
    return release
