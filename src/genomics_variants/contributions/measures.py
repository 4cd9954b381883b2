"""What each genotype code adds to a variant's counts, per cell.

Measures, per variant and cell (sums over samples):

    n            samples whose file speaks about the variant (called or not)
    called       samples with a called genotype
    an           called alleles (2 per diploid call, 1 per haploid call)
    ac           ALT alleles among them
    nhomalt      diploid calls homozygous for the ALT (bcftools AC_Hom / 2)
    nhap         haploid calls of the ALT (bcftools AC_Hemi; hemizygous where karyotype-
                 corrected, i.e. XY outside the PARs)
    *_adj        the same over calls that passed genotype QC (qc.py)
    seen_unknown samples of unknown coverage carrying the ALT: a plain single-sample VCF
                 delivered without callable regions says nothing about where its sample
                 was covered, so its calls add to this count only, never to the ones above
                 (no AN, hence no AF, is ever computed over such samples)

All measures are linear in samples, so adding or removing a sample is adding or subtracting
its row of the look-up table below: counts stay exact under any sequence of changes.
"""

from __future__ import annotations

import numpy as np

from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.vcf.genotypes import ADJ, COPIES_SHIFT, N_CODES, PLOIDY_SHIFT, PRESENT

RAW = ("called", "an", "ac", "nhomalt", "nhap")
MEASURES: tuple[str, ...] = ("n", *RAW, *(f"{m}_adj" for m in RAW), "seen_unknown")
N_MEASURES = len(MEASURES)
M = {name: i for i, name in enumerate(MEASURES)}


def _lookup_table() -> np.ndarray:
    code = np.arange(N_CODES)
    present = (code & PRESENT) > 0
    adj = (code & ADJ) > 0
    ploidy = (code >> PLOIDY_SHIFT) & 3
    copies = (code >> COPIES_SHIFT) & 3
    raw = np.stack(
        [
            ploidy > 0,
            ploidy,
            copies,
            (ploidy == 2) & (copies == 2),
            (ploidy == 1) & (copies == 1),
        ],
        axis=1,
    ).astype(np.int32)
    unknown = np.zeros((N_CODES, 1), dtype=np.int32)
    known = np.concatenate([present[:, None], raw, raw * adj[:, None], unknown], axis=1)
    return known.astype(np.int32)


def _unknown_coverage_table() -> np.ndarray:
    """The look-up table of a sample of unknown coverage: `seen_unknown` only."""
    table = np.zeros((N_CODES, len(MEASURES)), dtype=np.int32)
    code = np.arange(N_CODES)
    table[:, MEASURES.index("seen_unknown")] = (code >> COPIES_SHIFT) & 3 > 0
    return table


LUT = _lookup_table()  # (codes, measures), samples whose callability is known
UNKNOWN_LUT = _unknown_coverage_table()  # (codes, measures), samples of unknown coverage
_LUT_F64, _UNKNOWN_LUT_F64 = LUT.astype(np.float64), UNKNOWN_LUT.astype(np.float64)


def measure_sums(
    codes: np.ndarray, cells: np.ndarray, rows_per_pass: int = 32, *, covered: bool = True
) -> np.ndarray:
    """(variants, cells, measures) sums for (variants, samples) codes of samples in `cells`;
    `covered` False for samples of unknown coverage (they add to `seen_unknown` only).

    One bincount per small block of variants over keys (variant, cell, code) gives every
    cell's code histogram; the look-up table turns histograms into measures.
    """
    lut = _LUT_F64 if covered else _UNKNOWN_LUT_F64
    n_variants, n_samples = codes.shape
    out = np.zeros((n_variants, N_CELLS, N_MEASURES), dtype=np.int32)
    if not n_variants or not n_samples:
        return out
    per_row = N_CELLS * N_CODES
    offsets = (np.arange(rows_per_pass, dtype=np.intp) * per_row)[:, None] + (
        np.asarray(cells, dtype=np.intp) * N_CODES
    )[None, :]
    for lo in range(0, n_variants, rows_per_pass):
        block = codes[lo : lo + rows_per_pass]
        rows = len(block)
        keys = offsets[:rows] + block
        hist = np.bincount(keys.ravel(), minlength=rows * per_row)
        # in float64 (BLAS) rather than int64, which numpy multiplies in a plain loop, ten
        # times slower; exact: every term is an integer and a sum is at most 3 x samples,
        # far below 2^53, whatever the order or threading of the sums
        counts = hist.reshape(rows * N_CELLS, N_CODES).astype(np.float64)
        out[lo : lo + rows] = (counts @ lut).reshape(rows, N_CELLS, -1)
    return out
