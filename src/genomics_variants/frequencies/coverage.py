"""Allele number at every callable site, so "absent" and "not covered" differ.

The frequency table has a row only where some allele was seen. A variant without a row
may be absent from well-covered genomes or simply not covered; gnomAD v4.1 publishes AN
at every callable site for this reason. Here the callable sites are those covered by a
QC-passing block (a gVCF reference block, or the callable-regions BED of a plain VCF) of
a stored genome, and the release holds them as `coverage.parquet`: intervals (chrom,
start, end, 1-based inclusive) over which the QC-passing AN of every stratum is constant
(`an`, `an_<stratum>`, as in strata.py), intervals with AN 0 left out.

An interval is a maximal run of constant AN within one genomic chunk (the store's
`chunk_bits` window, 1 Mb by default, chunks.py): two neighbouring intervals differ in some
stratum's AN, or meet at a chunk's edge. Cutting at chunk edges (at most one extra row per
Mb) lets every chunk be worked out alone, by this process one after another (every
genome's pieces in memory at once: one machine's size) or by Spark's executors
(spark_coverage.py), with the same rows either way: a chunk's rows are a function of the
blocks that overlap it, cut to it.

A genome counts at a position by the rule the frequency table counts its blocks by (the
last block starting at or before the position speaks there, if it reaches it:
aggregate.block_codes_at), so the two tables agree on who is callable where, however a
genome's blocks overlap.

Jointly called genomes are left out: a joint VCF speaks only at its records, so their
callability between records is unknown (at a variant's row the frequency table counts them).
Samples of unknown coverage are never in it.

Size: an interval starts where some stratum's AN changes, so the table grows with the
union of block edges, not with genome length x samples (40 genomes, 2 of them gVCFs,
over 0.7 Mb: about 2,500 intervals, 22 kB beside 119 kB of frequencies). At national
scale the edges of tens of thousands of GQ-banded gVCFs approach every callable position
(about 3 x 10^9 intervals, as gnomAD's per-base all-sites AN); the nearest real thing
there is to publish AN in bands (runs merged while AN stays within a few percent, the
minimum published), which this table's layout already holds.

A release's coverage is written in parts, one per chunk with callable sites
(`coverage.parquet/part-<chunk>.parquet`, and each part's share of the served
layout, joined as the frequencies' are).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from genomics_variants.assembly import contig_rank
from genomics_variants.contributions.aggregate import BLOCK_KINDS
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.store import State, Store
from genomics_variants.frequencies.parts import part_attempt
from genomics_variants.frequencies.served import Layout, layout_of, write_served
from genomics_variants.frequencies.strata import STRATA, column, stratum_cells
from genomics_variants.vcf.calls import Blocks
from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT

COVERAGE_FILE = "coverage.parquet"
COVERAGE_TABLE = "coverage"  # the served table (served.py)
COVERAGE_PARTS_DIR = ".coverage-parts"  # each part's share of the served layout, until joined
PIECES_SCHEMA = pa.schema(
    [
        ("chunk", pa.int64()),
        ("chrom", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("cell", pa.int32()),
        ("ploidy", pa.int32()),
    ]
)
"""A genome's QC-passing blocks cut at chunk edges: what a chunk's coverage is made of."""
COVERAGE_SCHEMA = pa.schema(
    [
        ("chrom", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        *((column("an", stratum), pa.int32()) for stratum in STRATA),
    ]
)


def coverage_layout() -> Layout:
    """The served layout of a coverage table (every part's the same)."""
    return layout_of(COVERAGE_SCHEMA, "chrom", "start", "int32")


def block_batches(state: State) -> list[tuple[str, int]]:
    """(batch id, the cell of its genome) of every stored batch with blocks (one genome each:
    a gVCF, or a plain VCF with its callable regions)."""
    batches = state.batches.filter(
        pc.is_in(state.batches.column("kind"), value_set=pa.array(sorted(BLOCK_KINDS)))
    )
    cell_by_batch = dict(
        zip(
            state.samples.column("batch_id").to_pylist(),
            state.samples.column("cell").to_pylist(),
            strict=True,
        )
    )
    return [(b, int(cell_by_batch[b])) for b in batches.column("batch_id").to_pylist()]


def pieces(blocks: Blocks, cell: int, bits: int) -> pa.Table:
    """One genome's callable stretches cut at chunk edges (PIECES_SCHEMA): where a
    QC-passing block of ploidy > 0 speaks, by the frequency table's rule (speaking_runs),
    back-to-back stretches of one ploidy taken as one; a stretch across k chunks becomes
    k pieces, each inside one chunk."""
    chrom, start, end, ploidy = speaking_runs(blocks)
    names, codes = np.unique(chrom, return_inverse=True)
    rank = np.array([contig_rank(str(n)) for n in names], dtype=np.int64)[codes]
    first = ((rank << 32) | start) >> bits
    spans = (((rank << 32) | end) >> bits) - first + 1
    of = np.repeat(np.arange(len(start)), spans)
    chunk = first[of] + (np.arange(len(of)) - np.repeat(np.cumsum(spans) - spans, spans))
    window = (chunk << bits) & 0xFFFFFFFF  # the chunk's first position on its contig
    return pa.table(
        {
            "chunk": pa.array(chunk, pa.int64()),
            "chrom": pa.array(chrom[of], pa.string()),
            "start": pa.array(np.maximum(start[of], window), pa.int64()),
            "end": pa.array(np.minimum(end[of], window + (1 << bits) - 1), pa.int64()),
            "cell": pa.array(np.full(len(of), cell), pa.int32()),
            "ploidy": pa.array(ploidy[of], pa.int32()),
        },
        schema=PIECES_SCHEMA,
    )


def speaking_runs(blocks: Blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(chrom, start, end, ploidy) of the stretches where one genome is callable, in
    genome order: at a position the block that speaks is the last starting at or before it
    (ties: the last given), if it reaches that far (aggregate.block_codes_at, the rule
    the frequency table counts a genome's blocks by), and it must pass QC with ploidy > 0.
    So a genome is counted once at any position, however its blocks overlap; and
    back-to-back stretches of one ploidy (a gVCF's GQ bands) are one, since they change no
    AN: at a gVCF's ~3 M blocks that is most of them, gone before anything is shuffled."""
    if not len(blocks.start):
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=str), empty, empty, empty
    names, codes = np.unique(blocks.chrom, return_inverse=True)
    order = np.lexsort((blocks.start, codes))  # stable: equal starts keep their order
    contig = codes[order]
    start = blocks.start[order].astype(np.int64)
    end = blocks.end[order].astype(np.int64)
    code = blocks.code[order]
    same_next = np.append(contig[1:] == contig[:-1], False)
    next_start = np.append(start[1:], 0)
    end = np.where(same_next, np.minimum(end, next_start - 1), end)
    ploidy = ((code >> PLOIDY_SHIFT) & 3).astype(np.int64)
    keep = np.flatnonzero((end >= start) & ((code & ADJ) > 0) & (ploidy > 0))
    contig, start, end, ploidy = contig[keep], start[keep], end[keep], ploidy[keep]
    joins = (contig[1:] == contig[:-1]) & (start[1:] == end[:-1] + 1)
    joins &= ploidy[1:] == ploidy[:-1]
    first = np.flatnonzero(np.concatenate([[True], ~joins]))[: len(keep)]
    last = np.append(first[1:] - 1, len(keep) - 1)[: len(first)]
    return names[contig[first]], start[first], end[last], ploidy[first]


def stored_pieces(store: Store, batches: list[tuple[str, int]]) -> Iterator[pa.Table]:
    """The pieces of each of `batches` (block_batches), one genome at a time."""
    for batch_id, cell in batches:
        yield pieces(store.batch_blocks(batch_id), cell, store.chunk_bits)


def chunk_coverage(chunk_pieces: pa.Table) -> pa.Table:
    """The coverage rows (COVERAGE_SCHEMA) of the pieces of one chunk, any order: per
    contig, the AN of each cell between consecutive piece edges, summed per stratum, AN 0
    left out, and neighbouring rows of equal AN merged."""
    tables = []
    names = pc.unique(chunk_pieces.column("chrom")).to_pylist()
    for chrom in sorted(names, key=lambda name: (contig_rank(name), name)):
        on = chunk_pieces.filter(pc.equal(chunk_pieces.column("chrom"), chrom))
        start, end, an = _steps(
            on.column("start").to_numpy(),
            on.column("end").to_numpy(),
            on.column("ploidy").to_numpy().astype(np.int64),
            on.column("cell").to_numpy().astype(np.int64),
        )
        start, end, an = _maximal_runs(start, end, an)
        columns: dict[str, pa.Array] = {
            "chrom": pa.array(np.full(len(start), chrom), pa.string()),
            "start": pa.array(start, pa.int64()),
            "end": pa.array(end, pa.int64()),
        }
        for i, stratum in enumerate(STRATA):
            columns[column("an", stratum)] = pa.array(an[:, i], pa.int32())
        tables.append(pa.table(columns, schema=COVERAGE_SCHEMA))
    return pa.concat_tables(tables) if tables else COVERAGE_SCHEMA.empty_table()


def _steps(
    starts: np.ndarray, ends: np.ndarray, ploidy: np.ndarray, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, AN per stratum) between consecutive piece edges of one contig, AN > 0.
    The change at each edge is summed per cell by one bincount (about 250 bytes a piece;
    a dense edges x cells array of changes took 430)."""
    edges = np.concatenate([starts, ends + 1])
    points, inverse = np.unique(edges, return_inverse=True)
    change = np.concatenate([ploidy, -ploidy]).astype(np.float64)  # exact: |AN| < 2^53
    slot = inverse * N_CELLS + np.concatenate([cells, cells])
    per_point = np.bincount(slot, weights=change, minlength=len(points) * N_CELLS)
    level = np.cumsum(per_point.reshape(len(points), N_CELLS).astype(np.int64), axis=0)[:-1]
    by_stratum = np.stack([level[:, stratum_cells(s)].sum(axis=1) for s in STRATA], axis=1)
    keep = by_stratum[:, 0] > 0
    return points[:-1][keep], points[1:][keep] - 1, by_stratum[keep]


def _maximal_runs(
    start: np.ndarray, end: np.ndarray, an: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring intervals (one ends where the next begins) of equal AN in every stratum
    merged into one: a block edge where nothing changes (one gVCF block followed by the next
    of the same ploidy) is no edge of the table."""
    if len(start) == 0:
        return start, end, an
    joins = (start[1:] == end[:-1] + 1) & (an[1:] == an[:-1]).all(axis=1)
    first = np.flatnonzero(np.concatenate([[True], ~joins]))
    last = np.concatenate([first[1:] - 1, [len(start) - 1]])
    return start[first], end[last], an[first]


def write_coverage_part(folder: Path, chunk: int, chunk_pieces: pa.Table, block_rows: int) -> int:
    """The coverage of one chunk for a release being written in `folder`: as
    `coverage.parquet/part-<chunk>.parquet` and as its share of the served layout
    in `.coverage-parts/<chunk>` (joined later); returns its rows. Run in this process or on
    a Spark executor; like the frequencies' parts (release.write_part), each attempt writes
    under names of its own and renames into place."""
    table = chunk_coverage(chunk_pieces)
    attempt = part_attempt(folder, COVERAGE_FILE, COVERAGE_PARTS_DIR, part_name(chunk), str(chunk))
    with attempt as (parquet, share):
        pq.write_table(table, parquet, compression="zstd", row_group_size=1 << 16)
        layout = coverage_layout()
        rows = write_served(share, COVERAGE_TABLE, [table], layout, block_rows=block_rows)
    return rows


def part_name(chunk: int) -> str:
    """A coverage part's file, named by its chunk's number (zero-padded, so that names sort
    in genome order, as chunk numbers do)."""
    return f"part-{chunk:013d}.parquet"


def by_chunk(all_pieces: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """The pieces of each chunk, chunks in genome order."""
    ordered = all_pieces.sort_by("chunk")
    chunks = ordered.column("chunk").to_numpy()
    bounds = np.flatnonzero(np.diff(chunks)) + 1
    for lo, hi in zip(
        np.concatenate([[0], bounds]), np.concatenate([bounds, [len(chunks)]]), strict=True
    ):
        if hi > lo:
            yield int(chunks[lo]), ordered.slice(int(lo), int(hi - lo))


def write_coverage_parts(store: Store, state: State, folder: Path, block_rows: int) -> list[int]:
    """Every chunk's coverage part, written by this process; returns the chunks written, in
    genome order (none when no genome has blocks)."""
    all_pieces = pa.concat_tables(
        [PIECES_SCHEMA.empty_table(), *stored_pieces(store, block_batches(state))]
    )
    written = []
    for chunk, chunk_pieces in by_chunk(all_pieces):
        write_coverage_part(folder, chunk, chunk_pieces, block_rows)
        written.append(chunk)
    return written
