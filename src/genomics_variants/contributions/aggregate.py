"""The working aggregate and the exact arithmetic that keeps it equal to a recomputation.

Definitions (all sums over the samples currently stored):

* A batch is one ingested file. It *lists* the normalised variants its records carry,
  whatever its samples' genotypes; the aggregate has one row per variant listed by at least
  one stored batch (`listed_by` counts them).
* A sample contributes at a listed variant through its batch: its genotype code there if
  its batch lists the variant; otherwise, for a sample with blocks, the code of the block
  covering the variant's position (a passing block counts as a hom-ref call); else
  nothing. Blocks are a gVCF's reference blocks, or the callable regions (BED) delivered
  with a plain single-sample VCF (batch kind `vcf+bed`: passing hom-ref wherever callable).
  A VCF never implies hom-ref where it has no record.
* A plain single-sample VCF without callable regions (batch kind `vcf`) is of unknown
  coverage: its sample adds to `seen_unknown` at its own records and to nothing else
  (measures.py), so AN and AF are computed only over samples whose callability is known.

So the aggregate is a pure function of the stored samples, and adding or removing samples
only touches their own rows plus, for gVCF samples, the rows their blocks cover: work
proportional to the genomes changed, and the same numbers as a full recomputation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.measures import LUT, N_MEASURES, measure_sums
from genomics_variants.sites import Sites
from genomics_variants.vcf.calls import Blocks

WIDTH = N_CELLS * N_MEASURES
BLOCK_KINDS = frozenset({"gvcf", "vcf+bed"})  # batches whose sample has blocks
UNKNOWN_COVERAGE_KIND = "vcf"  # a plain single-sample VCF without callable regions
ROWS_AT_ONCE = 4096  # rows of counts a batch adds to at once (2.4 MB), not all of them


@dataclass(frozen=True)
class Contribution:
    """What a batch (or a subset of its samples) adds.

    sites: the variants the batch lists; codes: (sites, samples) genotype codes;
    cells: each sample's cell; blocks: the blocks of a gVCF or `vcf+bed` batch's one sample;
    sums: measure_sums(codes, cells) when already computed (by the reader processes);
    covered: False for a batch of unknown coverage (`vcf`).
    """

    sites: Sites
    codes: np.ndarray
    cells: np.ndarray
    blocks: Blocks | None = None
    sums: np.ndarray | None = None
    covered: bool = True

    def measures(self) -> np.ndarray:
        if self.sums is not None:
            return self.sums
        return measure_sums(self.codes, self.cells, covered=self.covered)

    def at(self, rows: np.ndarray) -> Contribution:
        """The contribution at some of its sites only (its blocks unchanged)."""
        sums = None if self.sums is None else self.sums[rows]
        codes = self.codes[rows] if len(self.codes) else self.codes
        return Contribution(
            self.sites.take(rows), codes, self.cells, self.blocks, sums, self.covered
        )


@dataclass(frozen=True)
class Aggregate:
    """One row per listed variant (genome order): `listed_by` and (cells, measures) counts."""

    sites: Sites
    listed_by: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls) -> Aggregate:
        return cls(
            Sites.empty(),
            np.zeros(0, dtype=np.int32),
            np.zeros((0, N_CELLS, N_MEASURES), dtype=np.int32),
        )

    def __len__(self) -> int:
        return len(self.sites)

    def locate(self, sites: Sites) -> np.ndarray:
        """Row of each of `sites` here, or -1 (the rows are in genome order)."""
        return self.sites.locate_sorted(sites)

    def with_sites(self, extra: Sites) -> tuple[Aggregate, np.ndarray]:
        """A copy that also has rows for `extra` (zero counts), and a mask of rows new in it.

        The counts are copied once, straight to their new rows: they are the largest thing an
        ingest holds (576 bytes a variant), and a copy more is a copy more at its peak."""
        missing = self.locate(extra) < 0
        fresh = extra.take(np.flatnonzero(missing))
        if len(fresh):
            keep = np.unique(fresh.ids, return_index=True)[1]
            fresh = fresh.take(keep)
        sites = Sites.concat([self.sites, fresh])
        order = sites.genome_order()
        moved = np.argsort(order)[: len(self)]  # the new row of each of these rows
        listed = np.zeros(len(sites), dtype=np.int32)
        listed[moved] = self.listed_by
        counts = np.zeros((len(sites), N_CELLS, N_MEASURES), dtype=np.int32)
        counts[moved] = self.counts
        is_new = np.ones(len(sites), dtype=bool)
        is_new[moved] = False
        return Aggregate(sites.take(order), listed, counts), is_new

    def without_unlisted(self) -> Aggregate:
        keep = np.flatnonzero(self.listed_by > 0)
        return Aggregate(self.sites.take(keep), self.listed_by[keep], self.counts[keep])


def block_codes_at(blocks: Blocks, sites: Sites) -> np.ndarray:
    """Code of the block covering each site's position; 0 where no block does."""
    out = np.zeros(len(sites), dtype=np.uint8)
    if not len(blocks.start) or not len(sites):
        return out
    for chrom in np.unique(blocks.chrom).tolist():
        held = np.flatnonzero(blocks.chrom == chrom)
        at = np.flatnonzero(sites.chrom == chrom)
        if not len(at):
            continue
        order = held[np.argsort(blocks.start[held], kind="stable")]
        start, end = blocks.start[order], blocks.end[order]
        pos = sites.pos[at]
        which = np.searchsorted(start, pos, side="right") - 1
        covered = (which >= 0) & (end[np.maximum(which, 0)] >= pos)
        out[at[covered]] = blocks.code[order[which[covered]]]
    return out


def _coverage(
    agg: Aggregate, contribution: Contribution, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, per-row measures) that a gVCF sample's blocks add at `rows` (all if None),
    leaving out the variants its own records list."""
    rows = np.arange(len(agg)) if rows is None else rows
    if contribution.blocks is None:
        return rows[:0], LUT[:0]
    codes = block_codes_at(contribution.blocks, agg.sites.take(rows))
    own = agg.locate(contribution.sites)
    codes[np.isin(rows, own[own >= 0])] = 0
    hit = np.flatnonzero(codes)
    return rows[hit], LUT[codes[hit]]


def add(
    agg: Aggregate, new: Sequence[Contribution], resident_gvcfs: Sequence[Contribution]
) -> Aggregate:
    """The aggregate after storing `new` batches; `resident_gvcfs` are the stored gVCF samples."""
    if not new:
        return agg
    grown, is_new = agg.with_sites(Sites.concat([c.sites for c in new]))
    counts, listed = grown.counts, grown.listed_by  # a copy already: `agg` stays as it was
    for c in new:
        rows, measures = grown.locate(c.sites), c.measures()
        for lo in range(0, len(rows), ROWS_AT_ONCE):  # `+=` copies the rows it updates
            counts[rows[lo : lo + ROWS_AT_ONCE]] += measures[lo : lo + ROWS_AT_ONCE]
        listed[rows] += 1
    out = Aggregate(grown.sites, listed, counts)
    fresh_rows = np.flatnonzero(is_new)
    for c in new:
        if c.blocks is not None:
            rows, values = _coverage(out, c, None)
            counts[rows, int(c.cells[0])] += values
    if len(fresh_rows):
        for c in resident_gvcfs:
            rows, values = _coverage(out, c, fresh_rows)
            counts[rows, int(c.cells[0])] += values
    return out


def subtract(
    agg: Aggregate, removed: Sequence[Contribution], emptied: Sequence[Sites]
) -> Aggregate:
    """The aggregate after deleting `removed` samples; `emptied` lists the sites of batches
    left without samples (no longer listed by them)."""
    counts, listed = agg.counts.copy(), agg.listed_by.copy()
    out = Aggregate(agg.sites, listed, counts)
    for c in removed:
        rows = agg.locate(c.sites)
        counts[rows] -= c.measures()
        if c.blocks is not None:
            cover_rows, values = _coverage(out, c, None)
            counts[cover_rows, int(c.cells[0])] -= values
    for sites in emptied:
        listed[agg.locate(sites)] -= 1
    return out.without_unlisted()
