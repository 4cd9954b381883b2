"""Callable regions (BED) delivered with a plain single-sample VCF, as blocks.

A plain VCF has records only where its sample carries an allele, so by itself it says
nothing about hom-ref positions. The genome centre can deliver, per sample, the regions
where the sample was callable (a BED, as `gatk CallableLoci` or `mosdepth --quantize`
write them, 0-based half-open): inside them a position without a record is a passing
hom-ref call, exactly like a gVCF reference block that passes QC. Intervals are cut at the
PAR boundaries and take the karyotype's ploidy there; intervals on an XX person's chrY
and on uncounted contigs (chrM) are dropped, as are contigs outside the
GRCh38 primary assembly.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from genomics_variants.assembly import (
    CONTIG_LENGTHS,
    UNCOUNTED_CONTIGS,
    contig_rank,
    par_pieces,
    sex_nonpar,
)
from genomics_variants.vcf.calls import Blocks
from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT, PRESENT
from medfollow_core.errors import MedfollowError


def _intervals(path: Path) -> list[tuple[str, int, int]]:
    """(chrom, start, end) of a BED file, 1-based inclusive, primary contigs only."""
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[tuple[str, int, int]] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t")
            try:
                chrom, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise MedfollowError(f"{path.name} line {number}: not a BED interval") from None
            if chrom not in CONTIG_LENGTHS or chrom in UNCOUNTED_CONTIGS:
                continue
            if start < 0 or end <= start or end > CONTIG_LENGTHS[chrom]:
                raise MedfollowError(f"{path.name} line {number}: interval outside {chrom}")
            out.append((chrom, start + 1, end))
    return out


def _merged(intervals: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Overlapping or touching intervals merged (a BED need not be sorted or merged, and a
    position must count once)."""
    out: list[tuple[str, int, int]] = []
    for chrom, lo, hi in sorted(intervals, key=lambda i: (contig_rank(i[0]), i[1])):
        if out and out[-1][0] == chrom and lo <= out[-1][2] + 1:
            out[-1] = (chrom, out[-1][1], max(out[-1][2], hi))
        else:
            out.append((chrom, lo, hi))
    return out


def callable_blocks(path: Path, xy: bool) -> Blocks:
    """The callable regions of one sample as passing hom-ref blocks (see module docstring)."""
    if not path.exists():
        raise MedfollowError(f"callable regions not found: {path.name}")
    chrom, start, end = [], [], []
    for contig, lo, hi in _merged(_intervals(path)):
        for piece_start, piece_end in par_pieces(contig, lo, hi):
            chrom.append(contig)
            start.append(piece_start)
            end.append(piece_end)
    chroms = np.array(chrom, dtype=str)
    starts = np.array(start, dtype=np.int64)
    nonpar = np.zeros(len(starts), dtype=bool)
    for contig in ("chrX", "chrY"):
        at = chroms == contig
        nonpar[at] = sex_nonpar(contig, starts[at])
    ploidy = np.where(nonpar & xy, 1, 2).astype(np.uint8)
    keep = (chroms != "chrY") | xy
    code = (ploidy << np.uint8(PLOIDY_SHIFT)) | np.uint8(PRESENT | ADJ)
    return Blocks(chroms[keep], starts[keep], np.array(end, dtype=np.int64)[keep], code[keep])
