"""Remove persons (opt-out) exactly, and recompute the aggregate from scratch to check it.

Removing a person subtracts the codes stored for their genome, deletes those codes from
the store and drops variants no remaining batch lists. A single-sample batch goes
entirely. A joint batch is rewritten, under a new batch id, without the person's calls and
without the variants that no remaining genome of it carries (the person's private sites:
ingest keeps only carried variants, so the store equals one that never held the person).
Nothing of theirs is kept; older releases, exports and warehouse rows go at the next
publish (pipeline.py). The rewriting is done here either way; the counting (what the
aggregate loses) is done in this process, or on Spark (spark.py, ``spark_subtract``) from the
changed batches' files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.contributions.aggregate import (
    BLOCK_KINDS,
    UNKNOWN_COVERAGE_KIND,
    Aggregate,
    Contribution,
    add,
    subtract,
)
from genomics_variants.contributions.chunks import Chunks, Less, chunked
from genomics_variants.contributions.store import State, Store, batch_label
from genomics_variants.sites import Sites, locate
from genomics_variants.vcf.genotypes import carried
from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress


@dataclass(frozen=True)
class RemovalResult:
    """requested: distinct person keys asked for; found: of those, persons stored;
    genomes: genomes removed; batches_emptied: batches left without samples (deleted)."""

    state: State
    requested: int
    found: int
    genomes: int
    batches_emptied: int


def _batch(state: State, batch_id: str) -> dict[str, Any]:
    """The batches-table row of one batch (Arrow's to_pylist: values untyped)."""
    return state.batches.filter(pc.equal(state.batches.column("batch_id"), batch_id)).to_pylist()[0]


def _contribution(
    store: Store, state: State, batch_id: str, genome_ids: list[str] | None = None
) -> Contribution:
    """A stored batch's contribution, or that of some of its genomes."""
    batch = _batch(state, batch_id)
    sites = store.batch_sites(batch_id)
    ids, codes = store.batch_calls(batch_id, str(batch["calls_file"]), len(sites), genome_ids)
    stored = np.asarray(state.samples.column("genome_id").to_pylist(), dtype=str)
    at = locate(stored, np.asarray(ids, dtype=str))
    if (at < 0).any():  # a batch's genome the store does not list: the store is damaged
        raise MedfollowError(f"{batch_label(batch_id)} holds genomes the store does not list")
    cells = state.samples.column("cell").to_numpy()[at]
    blocks = store.batch_blocks(batch_id) if batch["kind"] in BLOCK_KINDS else None
    covered = batch["kind"] != UNKNOWN_COVERAGE_KIND
    return Contribution(sites, codes, cells.astype(np.int64), blocks, covered=covered)


@dataclass(frozen=True)
class _Rewrite:
    """A joint batch rewritten without some genomes: what the aggregate loses besides their
    calls (`dropped`: the others' calls at variants no longer carried) and the new batch."""

    dropped: Contribution
    batch_id: str
    calls_file: str
    n_sites: int


def _without(
    store: Store, state: State, batch_id: str, genomes: list[str], new_id: str, generation: int
) -> _Rewrite:
    """Write batch `new_id`: `batch_id` without some genomes and the variants left uncarried."""
    batch = _batch(state, batch_id)
    sites = store.batch_sites(batch_id)
    ids, codes = store.batch_calls(batch_id, str(batch["calls_file"]), len(sites))
    names = np.asarray(ids, dtype=str)
    kept = np.flatnonzero(~np.isin(names, genomes))
    codes = codes[:, kept]
    carriers = carried(codes)
    stored = np.asarray(state.samples.column("genome_id").to_pylist(), dtype=str)
    cells = state.samples.column("cell").to_numpy()[locate(stored, names[kept])].astype(np.int64)
    dropped = Contribution(sites.take(np.flatnonzero(~carriers)), codes[~carriers], cells)
    remaining = sites.take(np.flatnonzero(carriers))
    calls_file = store.write_batch(
        new_id, generation, remaining, names[kept].tolist(), codes[carriers], None
    )
    return _Rewrite(dropped, new_id, calls_file, len(remaining))


def _renamed(samples: pa.Table, rewrites: dict[str, _Rewrite]) -> pa.Table:
    """The samples table with each rewritten batch's genomes moved to its new batch id."""
    batch_ids = [
        rewrites[b].batch_id if b in rewrites else b for b in samples.column("batch_id").to_pylist()
    ]
    return samples.set_column(
        samples.schema.get_field_index("batch_id"), "batch_id", pa.array(batch_ids, pa.string())
    )


def _batches_after(state: State, left: set[str], rewrites: dict[str, _Rewrite]) -> pa.Table:
    """The batches table: emptied batches gone, rewritten ones under their new id."""
    rows = []
    for row in state.batches.to_pylist():
        if row["batch_id"] not in left:
            continue
        rewrite = rewrites.get(row["batch_id"])
        if rewrite is not None:
            row |= {
                "batch_id": rewrite.batch_id,
                "calls_file": rewrite.calls_file,
                "n_sites": rewrite.n_sites,
            }
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=state.batches.schema)


def remove_persons(
    store: Store,
    person_keys: Iterable[str],
    *,
    progress: Progress | None = None,
    spark: Any | None = None,
) -> RemovalResult:
    """Remove every genome of these persons from the store and the aggregate; with a Spark
    session (see spark.py) the aggregate's arithmetic is done on Spark: the same numbers."""
    report = progress or (lambda _label, _done, _total: None)
    wanted = sorted(set(person_keys))
    with store.writer():
        state = store.load()
        hit = pc.is_in(state.samples.column("person_key"), value_set=pa.array(wanted, pa.string()))
        gone = state.samples.filter(hit)
        if gone.num_rows == 0:
            return RemovalResult(state, len(wanted), 0, 0, 0)
        generation = state.generation + 1
        remaining = state.samples.filter(pc.invert(hit))
        left = set(remaining.column("batch_id").to_pylist())
        by_batch = _by_batch(gone)
        rewrites: dict[str, _Rewrite] = {}
        for done, (batch_id, genomes) in enumerate(by_batch.items(), start=1):
            if batch_id in left:
                new_id = f"{generation:06d}-{len(rewrites) + 1:04d}"
                rewrites[batch_id] = _without(store, state, batch_id, genomes, new_id, generation)
            report("removing genomes", done, len(by_batch))
        aggregate: Aggregate | Chunks
        if spark is None:
            aggregate = _subtracted(store, state, by_batch, rewrites)
        else:
            aggregate = _spark_subtracted(store, spark, state, by_batch, rewrites, generation)
        new_state = State(
            generation,
            _renamed(remaining, rewrites),
            _batches_after(state, left, rewrites),
            aggregate,
        )
        store.commit(new_state)
    return RemovalResult(
        new_state,
        len(wanted),
        len(set(gone.column("person_key").to_pylist())),
        gone.num_rows,
        len(set(by_batch) - left),
    )


def _by_batch(gone: pa.Table) -> dict[str, list[str]]:
    """The genome ids of a samples table, by batch."""
    by_batch: dict[str, list[str]] = {}
    for genome_id, batch_id in zip(
        gone.column("genome_id").to_pylist(), gone.column("batch_id").to_pylist(), strict=True
    ):
        by_batch.setdefault(batch_id, []).append(genome_id)
    return by_batch


def _subtracted(
    store: Store, state: State, by_batch: dict[str, list[str]], rewrites: dict[str, _Rewrite]
) -> Aggregate:
    """The aggregate without the removed genomes, counted in this process: their codes, and
    in each rewritten batch the others' codes at the variants it no longer lists."""
    removed: list[Contribution] = []
    emptied: list[Sites] = []
    for batch_id, genomes in by_batch.items():
        removed.append(_contribution(store, state, batch_id, genomes))
        rewrite = rewrites.get(batch_id)
        if rewrite is None:
            emptied.append(removed[-1].sites)
        else:
            removed.append(rewrite.dropped)
            emptied.append(rewrite.dropped.sites)
    return subtract(state.aggregate, removed, emptied)


def _spark_subtracted(
    store: Store,
    spark: Any,
    state: State,
    by_batch: dict[str, list[str]],
    rewrites: dict[str, _Rewrite],
    generation: int,
) -> Chunks:
    """The same, counted by Spark from the changed batches' files (before the commit that
    sweeps the replaced ones), the chunks it changes written as `generation`'s."""
    from genomics_variants.contributions.spark import Removal, StoredBatch, spark_subtract

    removals = []
    for batch_id, genomes in by_batch.items():
        batch = _batch(state, batch_id)
        rewrite = rewrites.get(batch_id)
        removals.append(
            Removal(
                StoredBatch(batch_id, str(batch["kind"]), str(batch["calls_file"])),
                tuple(genomes),
                None if rewrite is None else rewrite.batch_id,
            )
        )
    return spark_subtract(
        store, spark, state.chunks, removals, samples=state.samples, generation=generation
    )


def without_genomes(store: Store, state: State, genome_ids: Collection[str]) -> State:
    """The state as if these stored genomes were absent, without changing the store: what a
    release that leaves them out (not yet released, or withheld) counts. Its counts are
    worked out chunk by chunk when read (chunks.Less): their codes are read here, the
    aggregate is not."""
    hit = pc.is_in(
        state.samples.column("genome_id"), value_set=pa.array(sorted(genome_ids), pa.string())
    )
    gone = state.samples.filter(hit)
    if gone.num_rows == 0:
        return state
    remaining = state.samples.filter(pc.invert(hit))
    left = set(remaining.column("batch_id").to_pylist())
    by_batch = _by_batch(gone)
    removed = {b: _contribution(store, state, b, g) for b, g in by_batch.items()}
    emptied = [c.sites for b, c in removed.items() if b not in left]
    batches = state.batches.filter(
        pc.is_in(state.batches.column("batch_id"), value_set=pa.array(sorted(left), pa.string()))
    )
    bits = store.chunk_bits
    less = Less(chunked(state.counts, bits), bits, tuple(removed.values()), tuple(emptied))
    return State(state.generation, remaining, batches, less)


def recompute(store: Store) -> Aggregate:
    """The aggregate computed afresh from every stored contribution (for verification)."""
    state = store.load()
    contributions = [
        _contribution(store, state, batch_id)
        for batch_id in state.batches.column("batch_id").to_pylist()
    ]
    return add(Aggregate.empty(), contributions, [])
