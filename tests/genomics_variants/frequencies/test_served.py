"""The served layout: a release read from disk block by block answers exactly what its
Parquet tables say, in bounded memory."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import Release, write_release, write_served
from genomics_variants.frequencies.served import (
    FORMAT,
    SERVED_DIR,
    BlockCache,
    BlockTable,
    WouldBlock,
    is_current,
    join_parts,
    key_of,
    layout_of,
    nonblocking,
)
from genomics_variants.frequencies.served import (
    write_served as write_blocks,
)
from genomics_variants.frequencies.strata import STRATA, column
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from support.variants import cold_tries, evict

SMALL_BLOCKS = 3  # so alleles of one position and intervals straddle block edges


@pytest.fixture(scope="module")
def release(delivery: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Release:
    """A release of the whole test delivery (joint, gVCFs, single-sample VCFs), its served
    layout rewritten with tiny blocks."""
    store = Store(tmp_path_factory.mktemp("served") / "store")
    state = ingest_files(store, [delivery], reference, key=load_key(), workers=2).state
    published = write_release(store, state)
    shutil.rmtree(published.folder / SERVED_DIR)
    write_served(
        published.folder,
        [pq.read_table(published.frequencies)],
        [pq.read_table(published.coverage)],
        block_rows=SMALL_BLOCKS,
    )
    return published


def test_every_row_reads_back_as_the_parquet_table_holds_it(release: Release) -> None:
    index = FrequencyIndex(release, BlockCache(1 << 20))
    expected = pq.read_table(release.frequencies)
    assert index.names == tuple(expected.column_names)
    served = index.table(np.arange(len(index)))
    for name in expected.column_names:
        want = expected.column(name).to_pylist()
        got = served.column(name).to_pylist()
        assert got == want, name
    # AF is divided out of AC and AN (not stored), null where AN is 0, bit for bit
    assert "af" not in index.variants.layout.floats
    assert "af" in index.variants.layout.decoded_floats
    assert any(v is None for s in STRATA for v in served.column(column("af", s)).to_pylist())
    ids = expected.column("variant_id").to_pylist()
    for row in range(0, len(ids), 7):
        record = index.record(row)
        assert record["variant_id"] == ids[row]
        frequencies = record["frequencies"]
        for stratum in STRATA:
            got_ac = frequencies[stratum]["ac"]  # type: ignore[index]
            assert got_ac == expected.column(column("ac", stratum))[row].as_py()


def test_look_ups_find_every_allele_and_nothing_else(release: Release) -> None:
    index = FrequencyIndex(release, BlockCache(1 << 20))
    table = pq.read_table(release.frequencies)
    ids = table.column("variant_id").to_pylist()
    held = set(ids)
    for row, variant in enumerate(ids):
        assert index.row(variant) == row
        chrom, pos, ref, _ = variant.split("-")
        for base in "ACGT":
            twin = f"{chrom}-{pos}-{ref}-{base}"
            if twin not in held:
                assert index.row(twin) is None
    for bad in ("chr17-12-A", "chr99-12-A-C", "chr17-x-A-C", "chr17-99999999999-A-C"):
        assert index.row(bad) is None


def test_regions_equal_a_scan_of_the_table(release: Release) -> None:
    index = FrequencyIndex(release, BlockCache(1 << 20))
    table = pq.read_table(release.frequencies)
    chrom = np.array(table.column("chrom").to_pylist())
    pos = table.column("pos").to_numpy()
    rng = np.random.default_rng(5)
    for contig in np.unique(chrom).tolist():
        on = pos[chrom == contig]
        starts = [int(on.min()) - 1, int(on.max()), *rng.choice(on, 20).tolist()]
        for start in starts:
            for span in (0, 1, 50, 5_000):
                want = np.flatnonzero((chrom == contig) & (pos >= start) & (pos <= start + span))
                got = index.between(contig, start, start + span)
                assert got.tolist() == want.tolist(), (contig, start, span)
    assert index.between("chr21", 1, 10).tolist() == []


def test_callable_an_equals_the_interval_table(release: Release) -> None:
    """At interval starts, ends, one past the ends, and random positions."""
    index = FrequencyIndex(release, BlockCache(1 << 20))
    coverage = pq.read_table(release.coverage)
    assert coverage.num_rows > 10
    chrom = np.array(coverage.column("chrom").to_pylist())
    start, end = coverage.column("start").to_numpy(), coverage.column("end").to_numpy()
    an = {s: coverage.column(column("an", s)).to_numpy() for s in STRATA}

    def expected(contig: str, at: int) -> dict[str, int]:
        hit = np.flatnonzero((chrom == contig) & (start <= at) & (end >= at))
        assert len(hit) <= 1
        return {s: int(an[s][hit[0]]) if len(hit) else 0 for s in STRATA}

    rng = np.random.default_rng(9)
    picks = rng.choice(coverage.num_rows, min(60, coverage.num_rows), replace=False).tolist()
    for i in picks:
        for at in (int(start[i]) - 1, int(start[i]), int(end[i]), int(end[i]) + 1):
            assert index.callable_an(str(chrom[i]), at) == expected(str(chrom[i]), at)
    assert index.callable_an("chr21", 5) == {s: 0 for s in STRATA}


def test_memory_is_the_block_index_and_a_bounded_cache(release: Release) -> None:
    """Reading every row through a cache of a few blocks keeps the cache within its budget;
    the answers are those of a cache that holds everything."""
    small = BlockCache(4096)
    index = FrequencyIndex(release, small)
    whole = FrequencyIndex(release, BlockCache(1 << 30))
    for row in range(len(index)):
        assert index.record(row) == whole.record(row)
        assert small.nbytes <= small.max_bytes
    assert index.variants.index_bytes == 48 * index.variants.blocks


def test_an_older_release_gets_its_served_layout_on_first_open(release: Release) -> None:
    copy = release.folder.with_name("r09999")
    shutil.copytree(release.folder, copy)
    shutil.rmtree(copy / SERVED_DIR)
    older = Release("r09999", copy, release.meta)
    variant = pq.read_table(release.frequencies).column("variant_id")[3].as_py()
    assert FrequencyIndex(older).row(variant) == 3
    assert (copy / SERVED_DIR / "frequencies.json").exists()


def test_a_served_copy_in_an_older_layout_is_written_again(release: Release) -> None:
    copy = release.folder.with_name("r09998")
    shutil.copytree(release.folder, copy)
    meta = copy / SERVED_DIR / "frequencies.json"
    meta.write_text(meta.read_text().replace(f'"format": {FORMAT}', f'"format": {FORMAT - 1}'))
    older = Release("r09998", copy, release.meta)
    variant = pq.read_table(release.frequencies).column("variant_id")[4].as_py()
    assert FrequencyIndex(older).row(variant) == 4
    assert is_current(copy / SERVED_DIR, "frequencies")
    # nothing left aside; the rebuild's lock file stays (removing it would race a waiter)
    assert sorted(p.name for p in copy.iterdir() if p.name.startswith(".")) == [".served.lock"]


def test_a_ratio_column_that_is_not_the_division_is_refused(tmp_path: Path) -> None:
    """A ratio column is not stored, so one that is not exactly its division would be
    served changed: the writer refuses it instead."""
    table = pa.table(
        {
            "chrom": ["chr1"] * 3,
            "pos": pa.array([1, 2, 3], pa.int64()),
            "ac": pa.array([1, 0, 2], pa.int32()),
            "an": pa.array([3, 0, 4], pa.int32()),
            "af": pa.array([1 / 3, None, 0.5000001]),
        }
    )
    layout = layout_of(table.schema, "chrom", "pos", ratios={"af": ("ac", "an")})
    with pytest.raises(MedfollowError, match="af is not ac / an"):
        write_blocks(tmp_path, "t", [table], layout)
    exact = table.set_column(4, "af", pa.array([1 / 3, None, 0.5]))
    write_blocks(tmp_path, "t", [exact], layout)
    served = BlockTable(tmp_path, "t", BlockCache(1 << 20)).table(np.arange(3))
    assert served.to_pylist() == exact.to_pylist()


def test_rows_out_of_genome_order_are_refused(tmp_path: Path) -> None:
    table = pa.table(
        {
            "chrom": ["chr2", "chr1"],
            "pos": pa.array([5, 9], pa.int64()),
            "ac": pa.array([1, 2], pa.int32()),
        }
    )
    with pytest.raises(MedfollowError, match="not in genome order"):
        write_blocks(tmp_path, "t", [table], layout_of(table.schema, "chrom", "pos"))


def test_chunks_are_cut_into_blocks_across_their_edges(tmp_path: Path) -> None:
    """A table written in uneven chunks reads back whole; keys order contigs by rank."""
    pos = np.arange(1, 101, dtype=np.int64)
    table = pa.table(
        {
            "chrom": ["chr2"] * 100,
            "pos": pos,
            "ref": ["A"] * 100,
            "alt": [None if i % 9 == 0 else "T" for i in range(100)],
            "x": pa.array(pos / 3, mask=pos % 4 == 0),  # null (NaN when served) every 4th
        }
    )
    chunks = [table.slice(0, 7), table.slice(7, 50), table.slice(57)]
    layout = layout_of(table.schema, "chrom", "pos")
    assert write_blocks(tmp_path, "t", chunks, layout, block_rows=8) == 100
    served = BlockTable(tmp_path, "t", BlockCache(1 << 20))
    assert served.blocks == 13
    assert served.table(np.arange(100)).to_pylist() == table.to_pylist()
    assert key_of("chr1", 10**8) < key_of("chr2", 1) < key_of("chrX", 1)
    assert served.rows_between(key_of("chr1", 1), key_of("chr2", 0)) == range(0, 0)
    assert served.rows_between(key_of("chr2", 8), key_of("chr2", 17)) == range(7, 17)
    assert served.row_at_or_before(key_of("chr3", 1)) == 99


def test_parts_joined_read_as_the_table_written_whole(tmp_path: Path) -> None:
    """Parts written apart (as Spark's executors write a release's) end in short blocks;
    joined, every row, look-up and range reads as in the table written whole, a position
    whose alleles straddle two parts included."""
    pos = np.repeat(np.arange(1, 61, dtype=np.int64), 2)  # two alleles at each position
    table = pa.table(
        {
            "chrom": ["chr3"] * 120,
            "pos": pos,
            "alt": ["C", "T"] * 60,
            "ac": pa.array(np.arange(120), pa.int32()),
        }
    )
    layout = layout_of(table.schema, "chrom", "pos")
    write_blocks(tmp_path / "whole", "t", [table], layout, block_rows=8)
    cuts = [0, 13, 13, 51, 120]  # an empty part; 51 splits position 26's two alleles
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        write_blocks(tmp_path / f"p{i}", "t", [table.slice(lo, hi - lo)], layout, block_rows=8)
    parts = [tmp_path / f"p{i}" for i in range(len(cuts) - 1)]
    assert join_parts(tmp_path / "joined", "t", parts) == 120
    whole = BlockTable(tmp_path / "whole", "t", BlockCache(1 << 20))
    joined = BlockTable(tmp_path / "joined", "t", BlockCache(1 << 20))
    assert joined.blocks > whole.blocks  # the parts' short last blocks
    rows = np.arange(120)
    assert joined.table(rows).equals(whole.table(rows))
    assert joined.table(rows[::-7]).equals(whole.table(rows[::-7]))
    for position in range(0, 62):
        key = key_of("chr3", position)
        assert joined.rows_at(key) == whole.rows_at(key), position
        assert joined.row_at_or_before(key) == whole.row_at_or_before(key), position
    assert joined.rows_between(key_of("chr3", 20), key_of("chr3", 33)) == range(38, 66)

    def unsupported(*args: object) -> int:  # as on a file system without copy_file_range
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "copy_file_range", unsupported)
        join_parts(tmp_path / "copied", "t", parts)
    for suffix in ("blocks", "index", "json"):
        copied = (tmp_path / "copied" / f"t.{suffix}").read_bytes()
        assert copied == (tmp_path / "joined" / f"t.{suffix}").read_bytes()
    (tmp_path / "p3" / "t.json").write_text(
        (tmp_path / "p3" / "t.json").read_text().replace('"int32"', '"int64"')
    )
    with pytest.raises(MedfollowError, match="differ in layout"):
        join_parts(tmp_path / "again", "t", parts)


def test_inside_nonblocking_a_block_on_disk_raises_instead_of_waiting(release: Release) -> None:
    """What lets the API answer from memory on its event loop and go to a thread only for
    a block that must come from disk (Service._answered)."""
    index = FrequencyIndex(release, BlockCache(1 << 20))
    whole = index.record(5)
    for _ in cold_tries(release.folder / SERVED_DIR):
        cold = FrequencyIndex(release, BlockCache(1 << 20))
        try:
            with nonblocking():
                cold.record(5)
        except WouldBlock as missing:
            missing.fetch()  # waits for the disk (outside nonblocking), as a reader thread does
            break
    else:
        pytest.fail("a block evicted from the page cache never raised WouldBlock")
    with nonblocking():
        assert cold.record(5) == whole  # now in memory
    evict(release.folder / SERVED_DIR)
    colder = FrequencyIndex(release, BlockCache(1 << 20))
    assert colder.record(5) == whole  # outside nonblocking, read from disk on the spot
