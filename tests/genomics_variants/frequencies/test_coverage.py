"""The coverage table (AN at every callable site) against a count made position by position,
and its shape: maximal runs of constant AN, cut only at chunk edges."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from genomics_variants.assembly import contig_rank
from genomics_variants.contributions.aggregate import block_codes_at
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.frequencies.coverage import (
    PIECES_SCHEMA,
    by_chunk,
    chunk_coverage,
    part_name,
    pieces,
)
from genomics_variants.frequencies.strata import STRATA, column, stratum_cells
from genomics_variants.sites import Sites
from genomics_variants.vcf.calls import Blocks
from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT

SPAN = 400  # positions 1..SPAN of each contig


def _genome(rng: np.random.Generator, contigs: list[str], overlaps: bool = True) -> Blocks:
    """Random blocks of one genome: back to back or with gaps, some failing QC, some of
    ploidy 0 (no-calls), a few overlapping their neighbour, some long enough to cross
    several chunks."""
    chrom, start, end, code = [], [], [], []
    for name in contigs:
        at = int(rng.integers(1, 20))
        while at <= SPAN:
            length = int(rng.choice([1, 2, 5, 17, 40, 150]))
            ploidy = int(rng.choice([0, 1, 2, 2, 2]))
            passing = ADJ if rng.random() < 0.85 else 0
            chrom.append(name)
            start.append(at)
            end.append(min(SPAN, at + length - 1))
            code.append((ploidy << PLOIDY_SHIFT) | passing)
            at += length + int(rng.choice([0, 0, 0, 1, 9])) - int(overlaps and rng.random() < 0.1)
    return Blocks(
        np.array(chrom, dtype=str),
        np.array(start, dtype=np.int64),
        np.array(end, dtype=np.int64),
        np.array(code, dtype=np.uint8),
    )


def _by_position(genomes: list[tuple[Blocks, int]], contig: str) -> np.ndarray:
    """AN per stratum at each position 0..SPAN of `contig`: each genome's ploidy there by
    the rule the frequency table counts blocks by (block_codes_at), where its block passes
    QC."""
    everywhere = Sites.build([contig] * SPAN, np.arange(1, SPAN + 1), ["A"] * SPAN, ["C"] * SPAN)
    per_cell = np.zeros((SPAN + 1, N_CELLS), dtype=np.int64)
    for blocks, cell in genomes:
        code = block_codes_at(blocks, everywhere).astype(np.int64)
        per_cell[1:, cell] += np.where(code & ADJ, (code >> PLOIDY_SHIFT) & 3, 0)
    return np.stack([per_cell[:, stratum_cells(s)].sum(axis=1) for s in STRATA], axis=1)


def _table(genomes: list[tuple[Blocks, int]], bits: int) -> pa.Table:
    every = pa.concat_tables(
        [PIECES_SCHEMA.empty_table(), *(pieces(b, cell, bits) for b, cell in genomes)]
    )
    parts = [chunk_coverage(p) for _, p in by_chunk(every)]
    return pa.concat_tables([chunk_coverage(PIECES_SCHEMA.empty_table()), *parts])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("bits", [4, 7, 20])
def test_an_at_every_position_is_the_count_of_the_blocks_there(seed: int, bits: int) -> None:
    """Every position's AN in every stratum, read from the table, equals the sum over the
    genomes of that stratum of the ploidy of the block the frequency table counts there
    (overlapping blocks included), where it passes QC; positions
    no table row covers have AN 0 everywhere. Rows are in genome order, never overlap,
    never cross a chunk's edge, and two neighbours either differ in some stratum's AN or
    meet at a chunk's edge (maximal runs)."""
    rng = np.random.default_rng(seed)
    contigs = ["chr17", "chrX"]
    genomes = [(_genome(rng, contigs), int(rng.integers(0, N_CELLS))) for _ in range(6)]
    table = _table(genomes, bits)
    an = np.stack([table.column(column("an", s)).to_numpy() for s in STRATA], axis=1)
    chrom = table.column("chrom").to_pylist()
    start, end = table.column("start").to_numpy(), table.column("end").to_numpy()
    assert (an[:, 0] > 0).all() and (start <= end).all()
    assert (start >> bits == end >> bits).all()  # inside one chunk
    order = [(contig_rank(c), s) for c, s in zip(chrom, start.tolist(), strict=True)]
    assert order == sorted(order)
    for contig in contigs:
        expected = _by_position(genomes, contig)
        found = np.zeros_like(expected)
        rows = [i for i, c in enumerate(chrom) if c == contig]
        for i in rows:
            assert not found[start[i] : end[i] + 1].any(), "rows overlap"
            found[start[i] : end[i] + 1] = an[i]
        np.testing.assert_array_equal(found, expected)
        for a, b in itertools.pairwise(rows):
            touching = end[a] + 1 == start[b]
            same = (an[a] == an[b]).all()
            assert not (touching and same) or start[b] % (1 << bits) == 0, (a, b)


def test_a_block_across_chunks_is_cut_at_their_edges() -> None:
    """A block of positions 10..40 over chunks of 16 bases is three pieces: 10-15, 16-31,
    32-40; a block failing QC or of ploidy 0 gives none."""
    blocks = Blocks(
        np.array(["chr17", "chr17", "chr17"]),
        np.array([10, 50, 60]),
        np.array([40, 55, 70]),
        np.array([(2 << PLOIDY_SHIFT) | ADJ, 2 << PLOIDY_SHIFT, ADJ], dtype=np.uint8),
    )
    cut = pieces(blocks, 3, 4)
    assert cut.column("start").to_pylist() == [10, 16, 32]
    assert cut.column("end").to_pylist() == [15, 31, 40]
    rank = contig_rank("chr17")
    assert cut.column("chunk").to_pylist() == [(rank << 28) | w for w in (0, 1, 2)]
    assert set(cut.column("cell").to_pylist()) == {3}


def test_back_to_back_blocks_of_one_genome_are_one_interval() -> None:
    """A gVCF's blocks that follow each other with the same ploidy (GQ bands) change no AN:
    the table has one row for them, not one per block."""
    blocks = Blocks(
        np.array(["chr17"] * 4),
        np.array([100, 150, 160, 400]),
        np.array([149, 159, 399, 500]),
        np.full(4, (2 << PLOIDY_SHIFT) | ADJ, dtype=np.uint8),
    )
    table = _table([(blocks, 0)], 20)
    assert table.select(["start", "end", "an"]).to_pylist() == [{"start": 100, "end": 500, "an": 2}]


def test_part_names_sort_in_genome_order() -> None:
    ranks = [contig_rank(c) for c in ("chr2", "chr10", "chrX")]
    chunks = sorted((rank << 28) | w for rank in ranks for w in (0, 9, 10, 1 << 27))
    names = [part_name(c) for c in chunks]
    assert names == sorted(names)


@pytest.mark.parametrize("seed", range(3))
def test_the_table_is_bedtools_unionbedg_summed_per_stratum(
    bedtools: str, tmp_path: Path, seed: int
) -> None:
    """bedtools unionbedg of the genomes' QC-passing blocks as bedGraphs (value: ploidy)
    gives the intervals where no genome's value changes; summed per stratum, AN 0 left out,
    neighbours of equal AN joined and cut at chunk edges, they are the table's rows."""
    bits = 6
    rng = np.random.default_rng(100 + seed)
    contigs = ["chr17", "chrX"]
    genomes = [
        (_genome(rng, contigs, overlaps=False), int(rng.integers(0, N_CELLS))) for _ in range(5)
    ]
    files = []
    for number, (blocks, _) in enumerate(genomes):
        lines = [
            f"{c}\t{s - 1}\t{e}\t{(int(code) >> PLOIDY_SHIFT) & 3}"
            for c, s, e, code in zip(
                blocks.chrom, blocks.start, blocks.end, blocks.code, strict=True
            )
            if int(code) & ADJ and (int(code) >> PLOIDY_SHIFT) & 3
        ]
        path = tmp_path / f"g{number}.bedgraph"
        path.write_text("".join(line + "\n" for line in sorted(lines, key=_bed_order)))
        files.append(str(path))
    union = subprocess.run(
        [bedtools, "unionbedg", "-i", *files], capture_output=True, text=True, check=True
    ).stdout
    cells = [cell for _, cell in genomes]
    expected: list[tuple[str, int, int, tuple[int, ...]]] = []
    for line in union.splitlines():
        chrom, start, end, *values = line.split("\t")
        per_cell = np.zeros(N_CELLS, dtype=np.int64)
        for value, cell in zip(values, cells, strict=True):
            per_cell[cell] += int(value)
        an = tuple(int(per_cell[stratum_cells(s)].sum()) for s in STRATA)
        first, last = int(start) + 1, int(end)
        while first <= last:  # cut at chunk edges
            edge = min(last, (first | ((1 << bits) - 1)))
            expected.append((chrom, first, edge, an))
            first = edge + 1
    joined: list[tuple[str, int, int, tuple[int, ...]]] = []
    for row in expected:
        if row[3][0] == 0:
            continue
        previous = joined[-1] if joined else None
        continues = (
            previous is not None
            and previous[0] == row[0]
            and previous[2] + 1 == row[1]
            and previous[3] == row[3]
            and row[1] % (1 << bits) != 0
        )
        if previous is not None and continues:
            joined[-1] = (row[0], previous[1], row[2], row[3])
        else:
            joined.append(row)
    table = _table(genomes, bits)
    an_columns = [table.column(column("an", s)).to_pylist() for s in STRATA]
    found = [
        (c, s, e, tuple(int(col[i]) for col in an_columns))
        for i, (c, s, e) in enumerate(
            zip(
                table.column("chrom").to_pylist(),
                table.column("start").to_pylist(),
                table.column("end").to_pylist(),
                strict=True,
            )
        )
    ]
    assert found == joined


def _bed_order(line: str) -> tuple[str, int]:
    chrom, start, *_ = line.split("\t")
    return chrom, int(start)


def test_overlapping_blocks_of_one_genome_count_it_once_as_the_frequency_table_does() -> None:
    """Blocks 100-300 and 150-160 of one diploid genome: the frequency table counts the
    second from 150 (the last block starting at or before a position speaks there), so
    the genome is callable over 100-160 with AN 2, once, and not at 161-300."""
    blocks = Blocks(
        np.array(["chr17", "chr17"]),
        np.array([100, 150]),
        np.array([300, 160]),
        np.full(2, (2 << PLOIDY_SHIFT) | ADJ, dtype=np.uint8),
    )
    table = _table([(blocks, 0)], 20)
    assert table.select(["start", "end", "an"]).to_pylist() == [{"start": 100, "end": 160, "an": 2}]
