"""Genotype codes: ploidy, karyotype correction and multi-allelic splitting."""

from __future__ import annotations

import numpy as np

from genomics_variants.vcf.genotypes import (
    ADJ,
    COPIES_SHIFT,
    PLOIDY_SHIFT,
    PRESENT,
    VECTOR_END,
    absent_samples,
    allele_codes,
    base_codes,
    correct_ploidy,
    het_of,
    normalise_missing,
    ploidy_of,
)


def _calls(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    array = np.array([pairs], dtype=np.int16)
    first, second = array[..., 0].copy(), array[..., 1].copy()
    normalise_missing(first, second)
    return first, second


def _decode(code: int) -> tuple[int, int, int, int]:
    return code & PRESENT, (code & ADJ) >> 1, (code >> PLOIDY_SHIFT) & 3, (code >> COPIES_SHIFT) & 3


def test_ploidy_from_cyvcf2_slots() -> None:
    first, second = _calls(
        [(0, 1), (1, 1), (-1, -1), (1, VECTOR_END), (-1, VECTOR_END), (0, -1), (2, 1), (-1, 2)]
    )
    # half-missing "0/." and "./2" are haploid calls of the called allele (bcftools +fill-tags)
    assert ploidy_of(first, second).tolist() == [[2, 2, 0, 1, 0, 1, 2, 1]]
    assert first.tolist() == [[0, 1, -1, 1, -1, 0, 2, 2]]
    assert het_of(first, second).tolist() == [
        [True, False, False, False, False, False, True, False]
    ]


def test_xy_outside_par_becomes_haploid_het_missing() -> None:
    pairs = [(1, 1), (0, 1), (0, 0), (1, VECTOR_END), (0, 1)]
    xy = np.array([True, True, True, True, False])
    first, second = _calls(pairs)
    correct_ploidy(first, second, "chrX", np.array([30_000_000]), xy)
    assert ploidy_of(first, second).tolist() == [[1, 0, 1, 1, 2]]
    assert first.tolist() == [[1, -1, 0, 1, 0]]
    for chrom, pos in (("chrX", 1_000_000), ("chr17", 30_000_000)):  # PAR1, autosome: unchanged
        first, second = _calls(pairs)
        correct_ploidy(first, second, chrom, np.array([pos]), xy)
        assert ploidy_of(first, second).tolist() == [[2, 2, 2, 1, 2]]


def test_xx_persons_have_no_calls_on_chry() -> None:
    xy = np.array([False, True, False])
    assert absent_samples("chrY", xy).tolist() == [0, 2]  # PARs included
    assert absent_samples("chrX", xy).tolist() == []
    first, second = _calls([(0, 1), (1, VECTOR_END), (1, 1)])
    correct_ploidy(first, second, "chrY", np.array([10_000_000]), xy)
    assert ploidy_of(first, second).tolist() == [[2, 1, 2]]  # XX calls are left to the caller


def test_split_counts_other_alts_as_reference() -> None:
    first, second = _calls([(1, 2), (0, 2), (2, 2), (-1, -1), (1, VECTOR_END)])
    adj = np.array([[True, False, True, False, True]])
    base = base_codes(first, second, adj)
    codes = allele_codes(first, second, base, np.array([0, 0]), np.array([1, 2]))
    assert [_decode(c) for c in codes[0].tolist()] == [
        (1, 1, 2, 1),
        (1, 0, 2, 0),
        (1, 1, 2, 0),
        (1, 0, 0, 0),
        (1, 1, 1, 1),
    ]
    assert [_decode(c) for c in codes[1].tolist()] == [
        (1, 1, 2, 1),
        (1, 0, 2, 1),
        (1, 1, 2, 2),
        (1, 0, 0, 0),
        (1, 1, 1, 0),
    ]


def test_max_of_codes_prefers_more_alt_copies() -> None:
    het = (1 << COPIES_SHIFT) | (2 << PLOIDY_SHIFT) | PRESENT
    hom_ref_adj = (2 << PLOIDY_SHIFT) | ADJ | PRESENT
    assert max(het, hom_ref_adj) == het
