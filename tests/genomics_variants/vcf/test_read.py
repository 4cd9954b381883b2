"""Reading VCFs: assembly and REF checks refuse bad files with one line; gVCF blocks; duplicates."""

from __future__ import annotations

import gzip
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pysam
import pytest

from genomics_variants.vcf import partition as partition_module
from genomics_variants.vcf import read as read_module
from genomics_variants.vcf.genotypes import ADJ, COPIES_SHIFT
from genomics_variants.vcf.header import read_header
from genomics_variants.vcf.partition import partition
from genomics_variants.vcf.read import read_file
from medfollow_core.errors import MedfollowError
from support.variants import CHR17_OFFSET, PAR_OFFSET, Handcrafted, vcf_text, write_vcf


def _one_line(exc: pytest.ExceptionInfo[MedfollowError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_ref_mismatch_is_refused(handcrafted: Handcrafted, tmp_path: Path) -> None:
    wrong = (("chr17", CHR17_OFFSET, 5, "G", "A", "0/1 0/0 0/0 0/0"),)  # the reference has T
    vcf = write_vcf(tmp_path / "wrong.vcf.gz", vcf_text(wrong, ("s1", "s2", "s3", "s4")))
    with pytest.raises(MedfollowError) as exc:
        read_file(vcf, handcrafted.reference, folder=tmp_path)
    assert "REF G at chr17:43000005 disagrees with the reference" in _one_line(exc)


@pytest.mark.parametrize(
    ("contigs", "message"),
    [
        ("##contig=<ID=chr17,length=81195210>\n", "not the GRCh38 83,257,441: another assembly"),
        ("##contig=<ID=17,length=83257441>\n", "UCSC names (chr17)"),
        ("", "declares no contigs"),
        ("##contig=<ID=scaffold_1,length=1000>\n", "names none of the GRCh38 primary contigs"),
    ],
)
def test_header_from_another_assembly_is_refused(
    contigs: str, message: str, tmp_path: Path
) -> None:
    text = vcf_text((), ("s1",)).replace(
        "##contig=<ID=chr17,length=83257441>\n##contig=<ID=chrX,length=156040895>\n", contigs
    )
    vcf = write_vcf(tmp_path / "other.vcf.gz", text)
    with pytest.raises(MedfollowError) as exc:
        read_header(vcf)
    assert message in _one_line(exc)


def test_reference_from_another_assembly_is_refused(
    tmp_path: Path, handcrafted: Handcrafted
) -> None:
    fasta = tmp_path / "grch37.fa"
    fasta.write_text(">chr17\n" + "A" * 100 + "\n")
    pysam.faidx(str(fasta))
    with pytest.raises(MedfollowError, match="another assembly"):
        read_file(handcrafted.vcf, fasta, folder=tmp_path)


def test_kinds(delivery: Path) -> None:
    assert read_header(delivery / "joint" / "cohort.vcf.gz").kind == "joint"
    gvcf = next((delivery / "per_sample").glob("*.g.vcf.gz"))
    assert read_header(gvcf).kind == "gvcf"
    plain = gvcf.with_name(gvcf.name.replace(".g.vcf.gz", ".vcf.gz"))
    assert read_header(plain).kind == "vcf"


def test_gvcf_blocks_and_variants(delivery: Path, reference: Path, tmp_path: Path) -> None:
    gvcf = next((delivery / "per_sample").glob("*.g.vcf.gz"))
    calls = read_file(gvcf, reference, folder=tmp_path)
    assert calls.blocks is not None and len(calls.blocks.start) > 100
    assert (calls.blocks.end >= calls.blocks.start).all()
    assert len(calls.sites) > 50 and calls.codes.array().shape == (len(calls.sites), 1)
    lines = [line for line in _lines(gvcf) if "END=" in line]
    assert len(lines) == len(calls.blocks.start)


def _lines(path: Path) -> list[str]:
    return [line for line in gzip.open(path, "rt") if not line.startswith("#")]


def test_duplicate_records_are_merged(handcrafted: Handcrafted, tmp_path: Path) -> None:
    records = (
        ("chr17", CHR17_OFFSET, 3, "GTTTTTTG", "GTTTTTG", "0/1 0/0"),
        ("chr17", CHR17_OFFSET, 8, "TT", "T", "0/0 1/1"),  # the same deletion, right-shifted
    )
    vcf = write_vcf(tmp_path / "dups.vcf.gz", vcf_text(records, ("s1", "s2")))
    calls = read_file(vcf, handcrafted.reference, folder=tmp_path)
    assert calls.sites.ids.tolist() == ["chr17-43000003-GT-G"]
    assert calls.stats.duplicates == 1
    assert (calls.codes.array()[0] >> COPIES_SHIFT).tolist() == [1, 2]


def test_partition_covers_the_file(delivery: Path) -> None:
    joint = delivery / "joint" / "cohort.vcf.gz"
    groups = partition(joint, 3)
    assert groups is not None and len(groups) == 3
    flat = [piece for group in groups for piece in group]
    for before, after in itertools.pairwise(flat):
        assert after.start == before.end
    assert flat[-1].end == joint.stat().st_size


def test_undeclared_format_field_is_read(handcrafted: Handcrafted, tmp_path: Path) -> None:
    """htslib adds a tag missing from the header as it parses; the BCF it hands to cyvcf2
    must still describe it, or the genotypes after it would be misread."""
    text = vcf_text((("chr17", CHR17_OFFSET, 3, "G", "T", "0/1 1/1"),), ("s1", "s2"))
    text = text.replace("\tGT\t0/1\t1/1", "\tGT:XQ\t0/1:7\t1/1:9")
    vcf = write_vcf(tmp_path / "undeclared.vcf.gz", text)
    calls = read_file(vcf, handcrafted.reference, folder=tmp_path)
    assert (calls.codes.array()[0] >> COPIES_SHIFT).tolist() == [1, 2]


def test_corrupt_vcf_is_refused_in_one_line(handcrafted: Handcrafted, tmp_path: Path) -> None:
    text = vcf_text((("chr17", CHR17_OFFSET, 3, "G", "T", "0/1 1/1"),), ("s1", "s2"))
    vcf = write_vcf(tmp_path / "corrupt.vcf.gz", text.replace("\t0/1\t1/1", "\t0/1"))
    with pytest.raises(MedfollowError) as exc:
        read_file(vcf, handcrafted.reference, folder=tmp_path)
    assert _one_line(exc).startswith("corrupt.vcf.gz:")


def test_reading_leaves_no_temporary_files(
    delivery: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    read_file(delivery / "joint" / "cohort.vcf.gz", reference, folder=tmp_path, workers=2)
    assert list(temporary.iterdir()) == []


def test_partition_bounds_every_piece(delivery: Path) -> None:
    """Pieces are cut so that the temporary BCF of any one stays small, even in one group."""
    joint = delivery / "joint" / "cohort.vcf.gz"
    whole = partition(joint, 1)
    small = partition(joint, 1, max_piece_bytes=joint.stat().st_size // 8)
    assert whole is not None and small is not None and len(whole) == len(small) == 1
    assert len(whole[0]) == 1 and len(small[0]) >= 8
    assert all(p.end - p.start <= joint.stat().st_size // 8 + (1 << 16) for p in small[0])


def test_reading_in_small_pieces_changes_nothing(
    delivery: Path, reference: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Read by one process from htslib's own reader, and by two in many pieces cut
    anywhere in lines: the same sites and codes."""
    joint = delivery / "joint" / "cohort.vcf.gz"
    (tmp_path / "whole").mkdir()
    (tmp_path / "pieces").mkdir()
    monkeypatch.setattr(read_module, "partition", lambda *_args, **_kw: None)
    whole = read_file(joint, reference, folder=tmp_path / "whole", workers=2)
    monkeypatch.undo()
    monkeypatch.setattr(partition_module, "MAX_PIECE_BYTES", joint.stat().st_size // 8)
    groups = partition(joint, 2)
    assert groups is not None and sum(len(g) for g in groups) > 2  # more pieces than workers
    pieces = read_file(joint, reference, folder=tmp_path / "pieces", workers=2)
    assert np.array_equal(whole.sites.ids, pieces.sites.ids)
    assert np.array_equal(whole.codes.array(), pieces.codes.array())


def test_a_vcf_without_records_has_nothing_to_cut(tmp_path: Path) -> None:
    """A single-sample VCF of a header only (a genome with no call in the delivered
    regions) is indexed like any other; partitioning it must not fail on the empty index."""
    empty = write_vcf(tmp_path / "empty.vcf.gz", vcf_text((), ("S1",)))
    assert partition(empty, 2) is None


def test_allele_balance_without_dp_sums_only_the_records_own_depths(
    handcrafted: Handcrafted, tmp_path: Path
) -> None:
    """Without DP a call's depth is the sum of its AD. The AD buffer is reused from block to
    block and keeps the widest record's columns: a narrower record must not count what an
    earlier, wider one left there (here a third allele's 100 reads, which would put s1's
    balanced 0/1 at 4 of 110 reads and fail it)."""
    records = (
        ("chr17", CHR17_OFFSET, 3, "G", "T,C", "1/2 0/0"),
        ("chrX", PAR_OFFSET, 4, "A", "G", "0/1 0/1"),  # another contig: a new block
    )
    text = vcf_text(records, ("s1", "s2"))
    text = text.replace("\tGT\t1/2\t0/0", "\tGT:AD\t1/2:0,3,100\t0/0:10,0,0")
    text = text.replace("\tGT\t0/1\t0/1", "\tGT:AD\t0/1:6,4\t0/1:5,5")
    text = text.replace(
        "##FORMAT=<ID=GT,",
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">\n##FORMAT=<ID=GT,',
    )
    vcf = write_vcf(tmp_path / "ad_only.vcf.gz", text)
    calls = read_file(vcf, handcrafted.reference, folder=tmp_path)
    chrx = calls.codes.array()[-1]
    assert (chrx >> COPIES_SHIFT).tolist() == [1, 1]
    assert (chrx & ADJ).tolist() == [ADJ, ADJ]  # both pass the allele balance
