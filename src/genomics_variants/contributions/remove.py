"""Remove persons (opt-out) exactly, and recompute the aggregate from scratch to check it.

Removing a person subtracts the codes stored for their genome, deletes those codes from
the store (a joint batch's calls file is rewritten without them; a single-sample batch
goes entirely) and drops variants no remaining batch lists. Nothing of theirs is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.contributions.aggregate import Aggregate, Contribution, add, subtract
from genomics_variants.contributions.store import State, Store
from genomics_variants.sites import Sites, locate
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
    cells = state.samples.column("cell").to_numpy()[locate(stored, np.asarray(ids, dtype=str))]
    blocks = store.batch_blocks(batch_id) if batch["kind"] == "gvcf" else None
    return Contribution(sites, codes, cells.astype(np.int64), blocks)


def _without(store: Store, state: State, batch_id: str, genomes: list[str], generation: int) -> str:
    """Rewrite a batch's calls file without some genomes; returns the new file's name."""
    batch = _batch(state, batch_id)
    ids, codes = store.batch_calls(batch_id, str(batch["calls_file"]), int(batch["n_sites"]))
    keep = np.flatnonzero(~np.isin(np.asarray(ids, dtype=str), genomes))
    return store.write_calls(
        batch_id, generation, np.asarray(ids, dtype=str)[keep].tolist(), codes[:, keep]
    )


def remove_persons(
    store: Store, person_keys: Iterable[str], *, progress: Progress | None = None
) -> RemovalResult:
    """Remove every genome of these persons from the store and the aggregate."""
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
        by_batch: dict[str, list[str]] = {}
        for genome_id, batch_id in zip(
            gone.column("genome_id").to_pylist(), gone.column("batch_id").to_pylist(), strict=True
        ):
            by_batch.setdefault(batch_id, []).append(genome_id)
        removed: list[Contribution] = []
        emptied: list[Sites] = []
        rewritten: dict[str, str] = {}
        for done, (batch_id, genomes) in enumerate(by_batch.items(), start=1):
            removed.append(_contribution(store, state, batch_id, genomes))
            if batch_id in left:
                rewritten[batch_id] = _without(store, state, batch_id, genomes, generation)
            else:
                emptied.append(removed[-1].sites)
            report("removing genomes", done, len(by_batch))
        batches = state.batches.filter(
            pc.is_in(
                state.batches.column("batch_id"), value_set=pa.array(sorted(left), pa.string())
            )
        )
        calls_files = [
            rewritten.get(b, f)
            for b, f in zip(
                batches.column("batch_id").to_pylist(),
                batches.column("calls_file").to_pylist(),
                strict=True,
            )
        ]
        batches = batches.set_column(
            batches.schema.get_field_index("calls_file"),
            "calls_file",
            pa.array(calls_files, pa.string()),
        )
        new_state = State(
            generation, remaining, batches, subtract(state.aggregate, removed, emptied)
        )
        store.commit(new_state)
    return RemovalResult(
        new_state,
        len(wanted),
        len(set(gone.column("person_key").to_pylist())),
        gone.num_rows,
        len(emptied),
    )


def recompute(store: Store) -> Aggregate:
    """The aggregate computed afresh from every stored contribution (for verification)."""
    state = store.load()
    contributions = [
        _contribution(store, state, batch_id)
        for batch_id in state.batches.column("batch_id").to_pylist()
    ]
    return add(Aggregate.empty(), contributions, [])
