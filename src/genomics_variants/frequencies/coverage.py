"""Allele number at every callable site, so "absent" and "not covered" differ.

The frequency table has a row only where some allele was seen. A variant without a row
may be absent from well-covered genomes or simply not covered; gnomAD v4.1 publishes AN
at every callable site for this reason. Here the callable sites are those covered by a
QC-passing block (a gVCF reference block, or the callable-regions BED of a plain VCF) of
a stored genome, and the release holds them as `coverage.parquet`: run-length intervals
(chrom, start, end, 1-based inclusive) over which the QC-passing AN of every stratum is
constant (`an`, `an_<stratum>`, as in strata.py), intervals with AN 0 left out.

Jointly called genomes are left out: a joint VCF speaks only at its records, so their
callability between records is unknown (at a variant's row the frequency table counts them).
Samples of unknown coverage are never in it.

Size: an interval starts at every distinct block edge among the stored genomes, so the
table grows with the union of block edges, not with genome length x samples (40 genomes,
2 of them gVCFs, over 0.7 Mb: 2,549 intervals, 22 kB beside 119 kB of frequencies). At
national scale the edges of tens of thousands of GQ-banded gVCFs approach every callable
position (about 3 x 10^9 intervals, as gnomAD's per-base all-sites AN); the nearest real
thing there is to publish AN in bands (runs merged while AN stays within a few percent,
the minimum published), which this table's layout already holds.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.assembly import contig_rank
from genomics_variants.contributions.aggregate import BLOCK_KINDS
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.store import State, Store
from genomics_variants.frequencies.strata import STRATA, column, stratum_cells
from genomics_variants.vcf.calls import Blocks
from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT

COVERAGE_FILE = "coverage.parquet"


def _stored_blocks(store: Store, state: State) -> tuple[list[Blocks], list[int]]:
    """The blocks of every stored genome that has them, and each genome's cell."""
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
    ids = batches.column("batch_id").to_pylist()
    return [store.batch_blocks(b) for b in ids], [int(cell_by_batch[b]) for b in ids]


def _contig_steps(
    starts: np.ndarray, ends: np.ndarray, ploidy: np.ndarray, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, per-cell AN) of the constant-AN intervals of one contig, AN > 0 only."""
    edges = np.concatenate([starts, ends + 1])
    deltas = np.zeros((len(edges), N_CELLS), dtype=np.int64)
    n = len(starts)
    deltas[np.arange(n), cells] += ploidy
    deltas[n + np.arange(n), cells] -= ploidy
    points, inverse = np.unique(edges, return_inverse=True)
    per_point = np.zeros((len(points), N_CELLS), dtype=np.int64)
    np.add.at(per_point, inverse, deltas)
    level = np.cumsum(per_point, axis=0)[:-1]
    keep = level.sum(axis=1) > 0
    return points[:-1][keep], points[1:][keep] - 1, level[keep]


def coverage_table(store: Store, state: State) -> pa.Table:
    """The callable intervals of a store state and their AN per stratum (module docstring)."""
    parts, cells = _stored_blocks(store, state)
    blocks = Blocks.concat(parts)
    owner = np.repeat(np.array(cells, dtype=np.int64), [len(p.start) for p in parts])
    ploidy = ((blocks.code >> PLOIDY_SHIFT) & 3).astype(np.int64)
    usable = ((blocks.code & ADJ) > 0) & (ploidy > 0)
    chrom_out, start_out, end_out, level_out = [], [], [], []
    for chrom in sorted(np.unique(blocks.chrom[usable]).tolist(), key=contig_rank):
        at = usable & (blocks.chrom == chrom)
        start, end, level = _contig_steps(blocks.start[at], blocks.end[at], ploidy[at], owner[at])
        chrom_out.append(np.full(len(start), chrom))
        start_out.append(start)
        end_out.append(end)
        level_out.append(level)
    levels = np.concatenate(level_out) if level_out else np.zeros((0, N_CELLS), np.int64)
    columns: dict[str, pa.Array] = {
        "chrom": pa.array(np.concatenate(chrom_out) if chrom_out else [], pa.string()),
        "start": pa.array(np.concatenate(start_out) if start_out else [], pa.int64()),
        "end": pa.array(np.concatenate(end_out) if end_out else [], pa.int64()),
    }
    for stratum in STRATA:
        summed = levels[:, stratum_cells(stratum)].sum(axis=1)
        columns[column("an", stratum)] = pa.array(summed, pa.int32())
    return pa.table(columns)
