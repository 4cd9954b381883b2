"""The key check: our allele counts equal bcftools' on the same calls.

Reference pipeline: `bcftools norm -m -any -f ref.fa | bcftools +fill-tags -t AC,AN,AF,AC_Hom`
(nhomalt = AC_Hom / 2), compared variant by variant with the raw (pre-QC) columns of our
release, on the synthetic joint VCF and on handcrafted VCFs with multi-allelic sites,
indels that need left-alignment and trimming, missing and half-missing genotypes and
haploid chrX calls.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from genomics_variants.pipeline import ingest
from support.variants import (
    CHR17_OFFSET,
    CHRX_OFFSET,
    PAR_OFFSET,
    SAMPLES,
    Handcrafted,
    bcftools_counts,
    release_rows,
    vcf_text,
    write_vcf,
)


def _compare(
    ours: dict[str, dict[str, object]],
    theirs: dict[str, list[tuple[int, int, float, int]]],
    suffix: str,
) -> int:
    compared = 0
    for variant, records in theirs.items():
        alt = variant.rsplit("-", 1)[1]
        if alt == "*":
            assert variant not in ours  # a spanning deletion is not a variant
            continue
        assert len(records) == 1, f"{variant} written twice by bcftools"
        ac, an, af, nhomalt = records[0]
        if ac == 0:
            assert variant not in ours  # releases hold observed alleles only
            continue
        row = ours[variant]
        assert (row[f"ac{suffix}"], row[f"an{suffix}"], row[f"nhomalt{suffix}"]) == (
            ac,
            an,
            nhomalt,
        ), variant
        assert math.isclose(float(row[f"af{suffix}"]), af, rel_tol=1e-5), variant
        compared += 1
    assert set(ours) <= set(theirs)
    return compared


def test_joint_vcf_matches_bcftools(
    bcftools: str, delivery: Path, reference: Path, tmp_path: Path
) -> None:
    joint = delivery / "joint" / "cohort.vcf.gz"
    _, published = ingest(tmp_path / "store", [joint], reference, workers=2)
    assert published.release is not None
    ours = release_rows(published.release.frequencies)
    compared = _compare(ours, bcftools_counts(bcftools, joint, reference), "_raw")
    assert compared == len(ours) > 500


def test_handcrafted_vcf_matches_bcftools(
    bcftools: str, handcrafted: Handcrafted, tmp_path: Path
) -> None:
    result, published = ingest(
        tmp_path / "store",
        [handcrafted.vcf],
        handcrafted.reference,
        manifest=handcrafted.manifest,
        workers=1,
        min_change=1,
    )
    assert published.release is not None
    ours = release_rows(published.release.frequencies)
    theirs = bcftools_counts(bcftools, handcrafted.vcf, handcrafted.reference)
    # GT only: adj QC has nothing to check, so adj counts equal raw counts equal bcftools
    assert _compare(ours, theirs, "") == len(ours) >= 15
    assert _compare(ours, theirs, "_raw") == len(ours)
    stats = result.files[0].stats
    assert stats is not None and stats.realigned >= 6 and stats.multiallelic == 4
    assert result.files[0].qc_skipped == ("GQ", "DP", "AD")  # adj = raw without the fields
    # spot checks of the normalised forms bcftools also produces
    assert {
        "chr17-43000002-C-T",
        "chr17-43000003-GT-G",
        "chr17-43000009-T-TGCA",
        "chr17-43000035-G-GA",
        "chrX-30000004-AT-A",
    } <= set(ours)


@pytest.mark.parametrize("workers", [1, 2])
def test_reading_in_pieces_changes_nothing(
    workers: int, delivery: Path, reference: Path, tmp_path: Path
) -> None:
    joint = delivery / "joint" / "cohort.vcf.gz"
    _, one = ingest(tmp_path / "one", [joint], reference, workers=1)
    _, many = ingest(tmp_path / "many", [joint], reference, workers=workers + 2)
    assert one.release is not None and many.release is not None
    assert release_rows(one.release.frequencies) == release_rows(many.release.frequencies)


def test_bcf_input_gives_the_same_counts(
    bcftools: str, handcrafted: Handcrafted, tmp_path: Path
) -> None:
    bcf = tmp_path / "handcrafted.bcf"
    subprocess.run([bcftools, "view", "-Ob", "-o", str(bcf), str(handcrafted.vcf)], check=True)
    subprocess.run([bcftools, "index", "-c", str(bcf)], check=True)
    args = {"manifest": handcrafted.manifest, "workers": 2, "min_change": 1}
    _, from_vcf = ingest(tmp_path / "vcf", [handcrafted.vcf], handcrafted.reference, **args)
    _, from_bcf = ingest(tmp_path / "bcf", [bcf], handcrafted.reference, **args)
    assert from_vcf.release is not None and from_bcf.release is not None
    assert release_rows(from_vcf.release.frequencies) == release_rows(from_bcf.release.frequencies)


# Edge cases bcftools and we must count alike (s1..s4: XX, XY, XX, XY, as the handcrafted
# manifest): half-missing genotypes, multi-allelic indels that need normalising, haploid
# chrX calls (also half-missing ones), a diploid XY call inside PAR1.
EDGE_RECORDS = (
    ("chr17", CHR17_OFFSET, 1, "A", "C", "./1 1/. ./. 0/1"),
    ("chr17", CHR17_OFFSET, 3, "GTTTTTTG", "GTTTTTG,GTTTTTTTG", "./1 1/2 0/2 ./2"),
    ("chr17", CHR17_OFFSET, 11, "CAG", "C,CAGCAG", "1/2 ./2 2/2 1/."),
    ("chr17", CHR17_OFFSET, 27, "GAT", "G,GATAT", "0/. ./. 2/. 1/1"),
    ("chr17", CHR17_OFFSET, 36, "AAA", "A,AAAA", "0/. 1/2 ./1 2/2"),
    ("chrX", PAR_OFFSET, 4, "A", "G", "./1 0/1 1/1 ./0"),
    ("chrX", CHRX_OFFSET, 3, "G", "A,T", "1/. 2 ./2 ."),
    ("chrX", CHRX_OFFSET, 5, "TTTTTT", "TTTTT,TTTTTTT", "1/2 1 0/. 2"),
    ("chrX", CHRX_OFFSET, 17, "G", "GG", "0/1 . 1/. 1"),
)


def test_edge_cases_match_bcftools(bcftools: str, handcrafted: Handcrafted, tmp_path: Path) -> None:
    vcf = write_vcf(tmp_path / "edges.vcf.gz", vcf_text(EDGE_RECORDS, SAMPLES))
    _, published = ingest(
        tmp_path / "store",
        [vcf],
        handcrafted.reference,
        manifest=handcrafted.manifest,
        workers=1,
        min_change=1,
    )
    assert published.release is not None
    ours = release_rows(published.release.frequencies)
    theirs = bcftools_counts(bcftools, vcf, handcrafted.reference)
    assert _compare(ours, theirs, "") == len(ours) >= 14
    assert _compare(ours, theirs, "_raw") == len(ours)
    assert ours["chr17-43000001-A-C"]["an"] == 4  # "./1", "1/.", "0/1": the called alleles
