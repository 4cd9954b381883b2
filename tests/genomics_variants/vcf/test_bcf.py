"""The BCF reader (bcf.py) must give exactly what cyvcf2 gives for the fields counting uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
from cyvcf2 import VCF

from genomics_variants.vcf.bcf import BcfReader
from genomics_variants.vcf.block import RecordBlock

SAMPLES = ("a", "b", "c")
HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr17,length=83257441>
##contig=<ID=chrX,length=156040895>
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="GQ">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="PL">
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	a	b	c
"""
# Layouts, types (DP above 127 and 32767 needs 16 and 32 bits), missing values, haploid and
# half-missing calls, phasing, a multi-allelic AD, a record without GT, a block with END.
RECORDS = """chr17	100	.	A	G	.	PASS	.	GT:GQ:DP:AD	0/1:30:20:10,10	./.	1|1:99:40:0,40
chr17	200	rs1	C	T,G	.	PASS	.	GT:AD:DP:GQ:PL	1/2:0,5,6:200:50:9,8,7,6,5,0	0/0:.:.:.:.	./1:3,4,0:7:12:1,2,3,4,5,6
chr17	300	.	G	A	.	.	.	GQ:DP	20:40000	.:.	30:3
chrX	400	.	T	C	.	PASS	.	GT:GQ:DP:AD	1:45:12:0,12	0:.:9:9,0	0/0:20:11:11,0
chrX	500	.	T	<NON_REF>	.	.	END=900	GT:GQ:DP	0/0:60:30	0/0:10:5	./.:0:0
"""


@pytest.fixture(scope="module")
def bcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bcf")
    vcf = folder / "in.vcf"
    vcf.write_text(HEADER + RECORDS, encoding="utf-8")
    out = folder / "in.bcf"
    with (
        pysam.VariantFile(str(vcf)) as source,
        pysam.VariantFile(str(out), "wb0", header=source.header) as sink,
    ):
        for record in source:
            sink.write(record)
    return out


@pytest.mark.parametrize("samples", [SAMPLES, ("a", "c")])
def test_records_decode_as_cyvcf2_reads_them(bcf: Path, samples: tuple[str, ...]) -> None:
    ours = list(BcfReader(bcf, samples, ["GQ", "DP", "AD"]))
    theirs = VCF(str(bcf), lazy=True)
    theirs.set_samples(list(samples))
    block = RecordBlock(len(samples), gq=True, dp=True, ad=True)
    block.reset("chr17")
    expected = []
    for mine, record in zip(ours, theirs, strict=True):
        assert (mine.CHROM, mine.POS, mine.end) == (record.CHROM, record.POS, record.end)
        assert (mine.REF, mine.ALT) == (record.REF, record.ALT)
        block.add(mine, "DP")
        expected.append(record)
    block.decode()
    for row, record in enumerate(expected):
        if "GT" in record.FORMAT:
            array = record.genotype.array()
            assert block.first[row].tolist() == array[:, 0].tolist()
            second = array[:, 1] if array.shape[1] >= 3 else np.full(len(samples), -2)
            assert block.second[row].tolist() == second.tolist()
        else:
            assert (block.first[row] == -1).all() and (block.second[row] == -1).all()
        for name, buffer in (("GQ", block.gq), ("DP", block.dp)):
            assert buffer is not None
            values = record.format(name)
            want = [-1] * len(samples) if values is None else values[:, 0].tolist()
            assert buffer[row].tolist() == want, (record.POS, name)
        ad = record.format("AD")
        assert block.ad is not None
        if ad is None:
            assert (block.ad[row] == -1).all()
        else:
            assert block.ad[row, :, : ad.shape[1]].tolist() == ad.tolist()
    assert len(expected) == len(RECORDS.splitlines())


def test_a_sample_not_in_the_file_is_refused(bcf: Path) -> None:
    from medfollow_core.errors import MedfollowError

    with pytest.raises(MedfollowError, match="sample z is not in the file"):
        BcfReader(bcf, ("a", "z"), [])
