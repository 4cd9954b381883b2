"""The working aggregate stored in genomic chunks: a commit writes the chunks whose content
changed and shares the others' files with the generation before; a digest names a chunk's
content whoever computed it; a format-3 store (one Arrow file) is cut into chunks in place;
a change naming variants the store lacks is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from genomics_variants.contributions.aggregate import WIDTH, Aggregate, Contribution, add
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.chunks import (
    LISTED,
    MEASURE_COLUMNS,
    applied,
    digest,
    digests_of,
    split,
)
from genomics_variants.contributions.store import BATCHES_SCHEMA, SAMPLES_SCHEMA, State, Store
from genomics_variants.sites import Sites
from medfollow_core.errors import MedfollowError
from support.variants import assert_same_aggregate

HET = 0b011011
POSITIONS = [100, 200, 5000, 9000, 70_000]


def _aggregate(positions: list[int], samples: int, seed: int = 1) -> Aggregate:
    sites = Sites.build(
        ["chr2"] * len(positions), positions, ["A"] * len(positions), ["T"] * len(positions)
    )
    rng = np.random.default_rng(seed)
    codes = rng.choice(
        np.array([0b001011, HET, 0b101011], np.uint8), size=(len(positions), samples)
    )
    return add(Aggregate.empty(), [Contribution(sites, codes, np.arange(samples) % N_CELLS)], [])


def _commit(store: Store, generation: int, aggregate: Aggregate) -> None:
    with store.writer():
        state = State(
            generation, SAMPLES_SCHEMA.empty_table(), BATCHES_SCHEMA.empty_table(), aggregate
        )
        store.commit(state)


def test_a_commit_rewrites_only_the_chunks_whose_counts_changed(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", chunk_bits=12)
    first = _aggregate(POSITIONS, 30)
    _commit(store, 1, first)
    before = store.load().chunks.files
    assert len(before) == 4  # 100 and 200 share the first 4 kb
    second = add(
        first,
        [
            Contribution(
                first.sites.take(np.array([2])), np.full((1, 1), HET, np.uint8), np.array([3])
            )
        ],
        [],
    )
    _commit(store, 2, second)
    after = store.load()
    changed = {c for c in after.chunks.files if after.chunks.files[c] != before[c]}
    assert changed == {5000 >> 12 | (after.aggregate.sites.rank[0] << 20)}
    assert sorted(p.name for p in store.aggregate_dir.iterdir()) == sorted(
        after.chunks.files.values()
    )
    assert_same_aggregate(after.aggregate, second)
    assert store.chunk_bits == 12 and Store(tmp_path / "store").chunk_bits == 12  # recorded


def test_a_digest_names_the_content_not_how_it_was_built() -> None:
    whole = _aggregate(POSITIONS, 12)
    wider = Aggregate(
        Sites.build(
            whole.sites.chrom.astype("<U40"),
            whole.sites.pos,
            whole.sites.ref.astype("<U40"),
            whole.sites.alt,
        ),
        whole.listed_by.astype(np.int64).astype(np.int32),
        whole.counts.copy(),
    )
    assert digests_of(whole, 12) == digests_of(wider, 12)
    changed = whole.counts.copy()
    changed[0, 0, 0] += 1
    assert digest(Aggregate(whole.sites, whole.listed_by, changed)) != digest(whole)
    assert sum(len(part) for _, part in split(whole, 12)) == len(whole)


def test_a_format_3_store_is_cut_into_chunks_in_place(tmp_path: Path) -> None:
    root = tmp_path / "old"
    aggregate = _aggregate(POSITIONS, 20)
    folder = root / "state" / "000001"
    folder.mkdir(parents=True)
    (root / "store.json").write_text(json.dumps({"format_version": 3}))
    (root / "state" / "CURRENT").write_text("1\n")
    import pyarrow.parquet as pq

    pq.write_table(SAMPLES_SCHEMA.empty_table(), folder / "samples.parquet")
    pq.write_table(BATCHES_SCHEMA.empty_table(), folder / "batches.parquet")
    flat = pa.array(aggregate.counts.reshape(-1), pa.int32())
    feather.write_feather(
        pa.table(
            {
                **aggregate.sites.to_arrow(),
                "listed_by": pa.array(aggregate.listed_by, pa.int32()),
                "counts": pa.FixedSizeListArray.from_arrays(flat, WIDTH),
            }
        ),
        folder / "aggregate.arrow",
    )
    state = Store(root).load()
    assert_same_aggregate(state.aggregate, aggregate)
    assert len(state.chunks.files) == 1  # 1 Mb chunks by default
    assert json.loads((root / "store.json").read_text())["format_version"] == 4


def test_a_removal_naming_variants_the_store_lacks_is_refused() -> None:
    held = _aggregate(POSITIONS[:2], 4)
    change = pa.table(
        {
            "chrom": ["chr2"],
            "pos": pa.array([300], pa.int64()),
            "ref": ["A"],
            "alt": ["T"],
            "cell": pa.array([LISTED], pa.int32()),
            **{name: pa.array([0], pa.int64()) for name in MEASURE_COLUMNS},
        }
    )
    with pytest.raises(MedfollowError, match="does not hold"):
        applied(held, change, -1)
    grown = applied(held, change, 1)  # an addition lists it
    assert grown.sites.pos.tolist() == [100, 200, 300]
    assert applied(grown, change, -1).sites.pos.tolist() == [100, 200]


def test_less_subtracts_a_genome_with_blocks_chunk_by_chunk_as_in_one_go() -> None:
    """Blocks that overlap, share a start, span many chunks or end just before one: per
    chunk only the blocks that can speak there are searched (the last starting before it
    and those starting in it), and the result is the one subtraction of the whole."""
    from genomics_variants.contributions.aggregate import subtract
    from genomics_variants.contributions.chunks import InMemory, Less
    from genomics_variants.vcf.calls import Blocks

    rng = np.random.default_rng(3)
    positions = sorted(set(rng.integers(1, 5000, 300).tolist()))
    base = _aggregate(positions, 30, seed=4)
    codes = np.array([0b001011, 0b001001, 0b001000], np.uint8)  # passing, failing, no-call
    for trial in range(20):
        starts = np.sort(rng.integers(1, 5000, 40))
        starts[5] = starts[4]  # two blocks starting at one position
        ends = starts + rng.integers(0, 700, 40)
        blocks = Blocks(np.array(["chr2"] * 40), starts, ends, rng.choice(codes, 40))
        own = base.sites.take(np.sort(rng.choice(len(base), 20, replace=False)))
        genome = Contribution(
            own, np.full((20, 1), HET, np.uint8), np.array([trial % N_CELLS]), blocks
        )
        with_it = add(base, [genome], [])
        whole = subtract(with_it, [genome], [own])  # its batch leaves with it
        less = Less(InMemory(with_it, 7), 7, (genome,), (own,))
        assert_same_aggregate(less.load(), whole)
        assert_same_aggregate(less.load(), base)
