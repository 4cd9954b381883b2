"""Variant normalisation as `bcftools norm -m -any -f ref.fa` does it.

A multi-allelic record becomes one biallelic variant per ALT allele (genotypes carrying a
different ALT count as reference for it, see `genotypes.py`). Each REF/ALT pair is then made
parsimonious and left-aligned against the reference (Tan, Abecasis & Kang 2015):

1. while both alleles end in the same base, drop it; when an allele becomes empty, prepend
   the reference base before the variant to both and move one position left; repeat;
2. while both alleles are at least two bases long and start with the same base, drop it and
   move one position right.

A variant's id is CHROM-POS-REF-ALT of this normalised form. Symbolic alleles (`<NON_REF>`,
`<DEL>`), the spanning-deletion allele `*`, breakends and missing ALTs are not variants.
"""

from __future__ import annotations

from genomics_variants.reference import Reference


def is_sequence_allele(alt: str) -> bool:
    """True for an ALT spelled in bases, i.e. a variant we count."""
    return (
        bool(alt)
        and alt not in ("*", ".")
        and not alt.startswith("<")
        and "[" not in alt
        and "]" not in alt
    )


def ref_matches(reference: Reference, chrom: str, pos: int, ref: str) -> bool:
    """Does REF agree with the reference FASTA at 1-based `pos`?"""
    return reference.fetch(chrom, pos - 1, pos - 1 + len(ref)) == ref.upper()


def normalise(
    reference: Reference, chrom: str, pos: int, ref: str, alt: str
) -> tuple[int, str, str]:
    """The normalised (pos, REF, ALT) of one biallelic pair whose REF matches the reference."""
    ref, alt = ref.upper(), alt.upper()
    if len(ref) == 1 and len(alt) == 1:
        return pos, ref, alt
    while True:
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
        elif not ref or not alt:
            if pos > 1:
                base = reference.base(chrom, pos - 1)
                ref, alt, pos = base + ref, base + alt, pos - 1
            else:  # nothing to the left of base 1: pad on the right instead
                base = reference.base(chrom, pos + len(ref))
                ref, alt = ref + base, alt + base
                break
        else:
            break
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def variant_id(chrom: str, pos: int, ref: str, alt: str) -> str:
    """CHROM-POS-REF-ALT, the stable key of a normalised variant."""
    return f"{chrom}-{pos}-{ref}-{alt}"
