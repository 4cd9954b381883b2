"""GRCh38: the contigs a delivery must be called against, the pseudo-autosomal regions, and
how users may spell a chromosome.

Lengths are the primary-assembly lengths of GRCh38 (UCSC naming, which the national genome
centre uses). A VCF or FASTA that names one of these contigs with another length was made
against another assembly (GRCh37 chr1 is 249,250,621 bp, for instance) and is refused.
"""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np

ASSEMBLY = "GRCh38"
ASSEMBLY_ALIASES = frozenset({"grch38", "hg38", "grch38.p13", "grch38.p14", "grc38"})

CONTIG_LENGTHS: dict[str, int] = {
    "chr1": 248_956_422,
    "chr2": 242_193_529,
    "chr3": 198_295_559,
    "chr4": 190_214_555,
    "chr5": 181_538_259,
    "chr6": 170_805_979,
    "chr7": 159_345_973,
    "chr8": 145_138_636,
    "chr9": 138_394_717,
    "chr10": 133_797_422,
    "chr11": 135_086_622,
    "chr12": 133_275_309,
    "chr13": 114_364_328,
    "chr14": 107_043_718,
    "chr15": 101_991_189,
    "chr16": 90_338_345,
    "chr17": 83_257_441,
    "chr18": 80_373_285,
    "chr19": 58_617_616,
    "chr20": 64_444_167,
    "chr21": 46_709_983,
    "chr22": 50_818_468,
    "chrX": 156_040_895,
    "chrY": 57_227_415,
    "chrM": 16_569,
}
CONTIGS: tuple[str, ...] = tuple(CONTIG_LENGTHS)
CONTIG_RANK: dict[str, int] = {name: rank for rank, name in enumerate(CONTIGS)}

# Pseudo-autosomal regions (1-based, inclusive). Outside them, chrX is haploid in XY persons
# and chrY is absent in XX persons.
PARS: dict[str, tuple[tuple[int, int], ...]] = {
    "chrX": ((10_001, 2_781_479), (155_701_383, 156_030_895)),
    "chrY": ((10_001, 2_781_479), (56_887_903, 57_217_415)),
}

# Contigs whose variants are not counted. chrM: a nuclear-genome caller writes diploid
# genotypes there that say nothing of heteroplasmy, and gnomAD counts mitochondrial variants
# with a dedicated caller (haploid AN, homoplasmic and heteroplasmic counts from each call's
# heteroplasmy level), which the deliveries do not carry; counting chrM as a diploid autosome
# would publish numbers that mean something else than gnomAD's (see frequencies/strata.py).
UNCOUNTED_CONTIGS = frozenset({"chrM"})

_CHROM = re.compile(r"^(?:chr)?([0-9]{1,2}|X|Y|M|MT)$", re.IGNORECASE)


def canonical_contig(name: str) -> str | None:
    """`17`, `chr17`, `X`, `chrx`, `MT` -> the GRCh38 UCSC name, or None if not a primary contig."""
    match = _CHROM.match(name.strip())
    if not match:
        return None
    core = match.group(1).upper()
    contig = "chrM" if core in ("M", "MT") else f"chr{core.lstrip('0') or '0'}"
    return contig if contig in CONTIG_LENGTHS else None


def contig_rank(name: str) -> int:
    """Sort rank in karyotype order; contigs outside the primary assembly sort last."""
    return CONTIG_RANK.get(name, len(CONTIG_RANK))


def sex_nonpar(chrom: str, pos: np.ndarray) -> np.ndarray:
    """True where `pos` (1-based) lies on chrX or chrY outside the pseudo-autosomal regions."""
    pos = np.asarray(pos)
    if chrom not in PARS:
        return np.zeros(pos.shape, dtype=bool)
    inside = np.zeros(pos.shape, dtype=bool)
    for lo, hi in PARS[chrom]:
        inside |= (pos >= lo) & (pos <= hi)
    return ~inside


def par_pieces(chrom: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end] (1-based, inclusive) cut at the PAR boundaries of chrX/chrY, so that each
    piece lies wholly inside or wholly outside a PAR: an interval's ploidy is decided at its
    start, so a gVCF block running past chrX:2,781,479 must not count XY persons as diploid
    beyond it."""
    cuts = sorted(
        {edge for lo, hi in PARS.get(chrom, ()) for edge in (lo, hi + 1) if start < edge <= end}
    )
    bounds = [start, *cuts, end + 1]
    return [(a, b - 1) for a, b in pairwise(bounds)]


def assembly_problem(contigs: dict[str, int | None], what: str) -> str | None:
    """Why a header's contigs are not GRCh38, or None if they are.

    `contigs` maps each declared contig to its length (None when the header gives none).
    Names outside the primary assembly (alt, decoy, unplaced contigs) are allowed; a
    primary contig with another length, or Ensembl-style names, are not.
    """
    if not contigs:
        return f"{what} declares no contigs, so its assembly cannot be checked against {ASSEMBLY}"
    primary = 0
    for name, length in contigs.items():
        canonical = canonical_contig(name)
        if canonical is not None and canonical != name:
            return (
                f"{what} names contig {name!r}; {ASSEMBLY} deliveries use UCSC names ({canonical})"
            )
        if name in CONTIG_LENGTHS:
            primary += 1
            if length is not None and length != CONTIG_LENGTHS[name]:
                return (
                    f"{what} gives {name} a length of {length:,}, not the {ASSEMBLY} "
                    f"{CONTIG_LENGTHS[name]:,}: another assembly"
                )
    if primary == 0:
        return f"{what} names none of the {ASSEMBLY} primary contigs"
    return None
