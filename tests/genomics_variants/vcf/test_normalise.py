"""Normalisation follows bcftools norm (cases checked against bcftools 1.16 by hand)."""

from __future__ import annotations

import pytest

from genomics_variants.vcf.normalise import is_sequence_allele, normalise, variant_id

SEQUENCE = "ACGTTTTTTGCAGCAGCAGTACCATGGATCGATCGAAAAACCCC"


class FakeReference:
    """Reference over one short contig (1-based positions)."""

    def fetch(self, contig: str, start: int, end: int) -> str:
        return SEQUENCE[start:end]

    def base(self, contig: str, pos: int) -> str:
        return SEQUENCE[pos - 1]


@pytest.mark.parametrize(
    ("pos", "ref", "alt", "expected"),
    [
        (1, "ACG", "ATG", (2, "C", "T")),  # common prefix and suffix trimmed
        (3, "GTTTTTTG", "GTTTTTG", (3, "GT", "G")),  # untrimmed deletion
        (8, "TT", "T", (3, "GT", "G")),  # right-shifted in a homopolymer
        (19, "G", "GCAG", (9, "T", "TGCA")),  # insertion left-aligned across a CAG repeat
        (11, "CAG", "TAG", (11, "C", "T")),
        (11, "CAG", "C", (11, "CAG", "C")),  # already left-aligned
        (20, "TACC", "TC", (20, "TAC", "T")),
        (21, "AC", "GT", (21, "AC", "GT")),  # MNP unchanged
        (24, "ATG", "ACG", (25, "T", "C")),
        (27, "GAT", "GATT", (28, "A", "AT")),
        (36, "A", "AA", (35, "G", "GA")),
        (5, "T", "G", (5, "T", "G")),
    ],
)
def test_normalise_like_bcftools(
    pos: int, ref: str, alt: str, expected: tuple[int, str, str]
) -> None:
    assert normalise(FakeReference(), "chr1", pos, ref, alt) == expected  # type: ignore[arg-type]


def test_symbolic_and_spanning_alleles_are_not_variants() -> None:
    assert is_sequence_allele("A") and is_sequence_allele("TGCA")
    for alt in ("*", "<NON_REF>", "<DEL>", ".", "", "A[chr2:100[", "]chr1:5]T"):
        assert not is_sequence_allele(alt)


def test_variant_id() -> None:
    assert variant_id("chr17", 43045711, "G", "A") == "chr17-43045711-G-A"
