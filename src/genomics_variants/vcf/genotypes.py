"""From genotype arrays (bcf.py) to one small code per sample and normalised variant.

A code packs everything the frequency tables need about one sample at one variant:

    bit 0      present: the sample's file speaks about this variant (missing calls included)
    bit 1      adj: the call passed genotype QC (see qc.py)
    bits 2-3   ploidy: number of called alleles, 0 (missing), 1 (haploid) or 2 (diploid)
    bits 4-5   copies: how many of those alleles are this variant's ALT (0-2)

Code 0 means "no contribution". Because copies sit in the high bits, the element-wise
maximum of two codes prefers the call carrying more ALT copies, which is how duplicate
records of one variant in a file are merged.

Calls are held as two int16 arrays (records x samples), the allele slots htslib gives:
`first` and `second`, with -1 for a missing allele and -2 ("vector end") as the second slot
of a haploid call. A half-missing call ("./1", "1/.") is a haploid call of its called
allele, as `bcftools +fill-tags` counts it (AN 1, AC 1 if ALT, in AC_Hemi, never in AC_Hom);
a call with no called allele is (-1, -1). Ploidy follows the karyotype, as gnomAD adjusts
it: outside the PARs an XY person's chrX and chrY calls are haploid (a diploid homozygous
call becomes haploid, a diploid heterozygous call is set missing), and an XX person has no
chrY calls at all, PARs included (`absent_samples`: code 0, not even a missing call), as
gnomAD's `adjusted_sex_ploidy_expr` sets them missing. The conventions are
listed once in frequencies/strata.py. Everything is element-wise numpy over records x
samples.
"""

from __future__ import annotations

import numpy as np

from genomics_variants.assembly import sex_nonpar

PRESENT = 1
ADJ = 2
PLOIDY_SHIFT = 2
COPIES_SHIFT = 4
N_CODES = 64

MISSING = -1
VECTOR_END = -2  # htslib (and cyvcf2): the second allele slot of a haploid call


def normalise_missing(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Half-missing calls become haploid calls of their called allele and calls without a
    called allele (-1, -1), in place: bcftools counts the called allele of "./1". Returns
    the mask of half-missing calls (QC still treats them as diploid calls, see qc.py)."""
    called_second = (first < 0) & (second >= 0)
    half = called_second | ((first >= 0) & (second == MISSING))
    np.putmask(first, called_second, second)
    np.putmask(second, half, VECTOR_END)
    np.putmask(second, first < 0, MISSING)
    return half


def correct_ploidy(
    first: np.ndarray, second: np.ndarray, chrom: str, pos: np.ndarray, xy: np.ndarray
) -> None:
    """Make XY persons' calls haploid outside the PARs (see module docstring), in place."""
    if chrom not in ("chrX", "chrY"):
        return
    rows = np.flatnonzero(sex_nonpar(chrom, pos))
    xy_cols = np.flatnonzero(xy)
    if len(rows) and len(xy_cols):
        cells = np.ix_(rows, xy_cols)
        a, b = first[cells], second[cells]
        diploid = b >= 0
        hom = diploid & (a == b)
        het = diploid & (a != b)
        b = np.where(hom, np.int16(VECTOR_END), b)
        first[cells] = np.where(het, np.int16(MISSING), a)
        second[cells] = np.where(het, np.int16(MISSING), b)


def absent_samples(chrom: str, xy: np.ndarray) -> np.ndarray:
    """Columns of the samples that have no calls on `chrom` for their karyotype: XX persons
    on chrY (counted nowhere there, not even as uncalled)."""
    return np.flatnonzero(~xy) if chrom == "chrY" else np.zeros(0, dtype=np.intp)


def ploidy_of(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Called alleles per call (uint8): 0 missing, 1 haploid, 2 diploid."""
    called = (first >= 0).view(np.uint8)
    return called * np.uint8(2) - (second == VECTOR_END).view(np.uint8)


def het_of(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Diploid calls of two different alleles."""
    return (first != second) & (second >= 0)


def base_codes(first: np.ndarray, second: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """present | adj | ploidy per call, copies zero (the code of a reference-block call)."""
    code = ploidy_of(first, second) << np.uint8(PLOIDY_SHIFT)
    code |= np.uint8(PRESENT)
    code |= adj.view(np.uint8) << np.uint8(1)
    return code


def allele_codes(
    first: np.ndarray, second: np.ndarray, base: np.ndarray, rows: np.ndarray, alleles: np.ndarray
) -> np.ndarray:
    """Codes of split variants: row `rows[i]`'s ALT number `alleles[i]`, (variants, samples).

    Other ALT alleles of the record count as reference, as after `bcftools norm -m -any`.
    """
    k = alleles.astype(np.int16)[:, None]
    if len(rows) == first.shape[0] and (rows == np.arange(len(rows))).all():
        a, b, code = first, second, base.copy()
    else:
        a, b, code = first[rows], second[rows], base[rows]
    copies = (a == k).view(np.uint8) + (b == k).view(np.uint8)
    code |= copies << np.uint8(COPIES_SHIFT)
    return code


def carried(codes: np.ndarray) -> np.ndarray:
    """Per variant of (variants, samples) codes: does any sample carry the ALT (any call, QC
    or not)? A batch keeps only such variants: a variant its file lists only because of a
    genome that is not kept is information about that genome."""
    return np.asarray((codes >= np.uint8(1 << COPIES_SHIFT)).any(axis=1))  # copies: top bits
