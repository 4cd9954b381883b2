"""Callable-regions BEDs as passing hom-ref blocks: merged, cut at the PARs, karyotype ploidy."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from genomics_variants.vcf.callable import callable_blocks
from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT, PRESENT
from medfollow_core.errors import MedfollowError

BED = (
    "track name=callable\n"
    "chr17\t99\t200\n"
    "chr17\t150\t300\n"  # overlaps the one before: a position counts once
    "chrX\t2781000\t2782000\n"  # runs past the end of PAR1 (2,781,479)
    "chrY\t5000000\t5000100\n"
    "chrM\t0\t16569\n"  # not counted
    "chrUn_KI270302v1\t0\t100\n"  # outside the primary assembly
)


def _blocks(tmp_path: Path, xy: bool, text: str = BED) -> list[tuple[str, int, int, int]]:
    path = tmp_path / "callable.bed.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    blocks = callable_blocks(path, xy)
    ploidy = ((blocks.code >> PLOIDY_SHIFT) & 3).tolist()
    assert all(code & (PRESENT | ADJ) == PRESENT | ADJ for code in blocks.code.tolist())
    return list(
        zip(blocks.chrom.tolist(), blocks.start.tolist(), blocks.end.tolist(), ploidy, strict=True)
    )


def test_xy_is_haploid_outside_the_pars(tmp_path: Path) -> None:
    assert _blocks(tmp_path, xy=True) == [
        ("chr17", 100, 300, 2),
        ("chrX", 2_781_001, 2_781_479, 2),
        ("chrX", 2_781_480, 2_782_000, 1),
        ("chrY", 5_000_001, 5_000_100, 1),
    ]


def test_xx_has_nothing_on_chry(tmp_path: Path) -> None:
    assert _blocks(tmp_path, xy=False) == [
        ("chr17", 100, 300, 2),
        ("chrX", 2_781_001, 2_781_479, 2),
        ("chrX", 2_781_480, 2_782_000, 2),
    ]


def test_bad_intervals_are_refused(tmp_path: Path) -> None:
    for text in ("chr17\tten\t20\n", "chr17\t30\t20\n", "chr17\t0\t83257442\n"):
        with pytest.raises(MedfollowError, match="line 1"):
            _blocks(tmp_path, xy=False, text=text)
    with pytest.raises(MedfollowError, match="not found"):
        callable_blocks(tmp_path / "missing.bed", xy=False)
