"""Helpers for the variant-frequency tests: the handcrafted delivery and bcftools answers."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pytest
from pysam.libcbgzf import BGZFile

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.frequencies.release import Release
from support.deliveries import make_cpr
from synthetic_deliveries.genomes_reference import ContigSequence, write_reference_fasta

CHR17_OFFSET = 43_000_000  # 0-based start of the chr17 window: 1-based POS = offset + p
CHRX_OFFSET = 30_000_000  # chrX outside the PARs
PAR_OFFSET = 1_000_000  # chrX inside PAR1
CHR17_SEQ = "ACGTTTTTTGCAGCAGCAGTACCATGGATCGATCGAAAAACCCC" * 3
CHRX_SEQ = "CCGATTTTTTACGTACGGGGCATCATCATGC" * 4
PAR_SEQ = "TTGACCATGGTACGTTGCA" * 4

CONTIGS_HEADER = "##contig=<ID=chr17,length=83257441>\n##contig=<ID=chrX,length=156040895>\n"
SAMPLES = ("s1", "s2", "s3", "s4")
KARYOTYPES = ("XX", "XY", "XX", "XY")

# (contig, window offset, 1-based position in window, REF, ALT, genotypes of s1..s4)
RECORDS = (
    ("chr17", CHR17_OFFSET, 1, "ACG", "ATG", "0/1 0/0 1/1 0/1"),  # trimmed to C>T
    ("chr17", CHR17_OFFSET, 3, "GTTTTTTG", "GTTTTTG", "0/1 ./. 0/0 0/0"),  # untrimmed deletion
    ("chr17", CHR17_OFFSET, 11, "CAG", "TAG,C", "1/2 0/2 ./. 0/1"),  # mixed multi-allelic
    ("chr17", CHR17_OFFSET, 19, "G", "GCAG", "0/1 0/0 0/0 1/1"),  # right-shifted insertion
    ("chr17", CHR17_OFFSET, 21, "AC", "GT", "0/1 0/0 0/0 0/0"),  # MNP
    ("chr17", CHR17_OFFSET, 24, "ATG", "ACG", "0/1 0/0 ./. 0/0"),
    ("chr17", CHR17_OFFSET, 27, "GAT", "GCT,GT,GATT", "1/2 2/3 0/3 ./."),
    ("chr17", CHR17_OFFSET, 36, "A", "G,*,AA", "1/2 3/3 0/2 0/0"),  # spanning deletion allele
    ("chr17", CHR17_OFFSET, 60, "GCAG", "G", "0/1 0/0 1/1 0/0"),  # right-shifted in a CAG repeat
    ("chrX", PAR_OFFSET, 5, "C", "A", "0/1 0/1 1/1 0/0"),  # PAR1: diploid for XY too
    ("chrX", CHRX_OFFSET, 5, "T", "C", "0/1 1 0/0 0"),  # haploid XY calls
    ("chrX", CHRX_OFFSET, 9, "TT", "T", "1/1 . 0/1 1"),  # right-shifted, haploid missing
    ("chrX", CHRX_OFFSET, 13, "G", "A,C", "0/2 2 1/2 1"),
    ("chrX", CHRX_OFFSET, 22, "A", "T", "./. 1 0/0 ."),
)


@dataclass(frozen=True)
class Handcrafted:
    vcf: Path
    reference: Path
    manifest: Path
    cprs: tuple[str, ...]


def vcf_text(
    records: tuple[tuple[str, int, int, str, str, str], ...], samples: tuple[str, ...]
) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        CONTIGS_HEADER.rstrip("\n"),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    rows = sorted(records, key=lambda r: (r[0] != "chr17", r[1] + r[2]))
    for contig, offset, pos, ref, alt, gts in rows:
        lines.append(
            "\t".join(
                [contig, str(offset + pos), ".", ref, alt, ".", "PASS", ".", "GT", *gts.split()]
            )
        )
    return "\n".join(lines) + "\n"


def write_vcf(path: Path, text: str) -> Path:
    with BGZFile(str(path), "wb") as handle:
        handle.write(text.encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def write_handcrafted_reference(path: Path, chr17: str = CHR17_SEQ) -> Path:
    """The handcrafted reference FASTA, with `chr17` as its chr17 window."""
    as_bytes = lambda s: np.frombuffer(s.encode(), dtype=np.uint8)  # noqa: E731
    write_reference_fasta(
        path,
        [
            ContigSequence("chr17", 83_257_441, ((CHR17_OFFSET, as_bytes(chr17)),)),
            ContigSequence(
                "chrX",
                156_040_895,
                ((PAR_OFFSET, as_bytes(PAR_SEQ)), (CHRX_OFFSET, as_bytes(CHRX_SEQ))),
            ),
        ],
    )
    return path


def write_handcrafted(folder: Path, cprs: list[str]) -> Handcrafted:
    reference = write_handcrafted_reference(folder / "reference.fa.gz")
    vcf = write_vcf(folder / "handcrafted.vcf.gz", vcf_text(RECORDS, SAMPLES))
    manifest = folder / "sample_manifest.tsv"
    rows = [
        "genome_id\tcpr\tkaryotype",
        *(f"{s}\t{c}\t{k}" for s, c, k in zip(SAMPLES, cprs, KARYOTYPES, strict=True)),
    ]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Handcrafted(vcf, reference, manifest, tuple(cprs))


def bcftools_counts(
    bcftools: str, vcf: Path, fasta: Path
) -> dict[str, list[tuple[int, int, float, int]]]:
    """`bcftools norm -m -any -f | +fill-tags -t AC,AN,AF,AC_Hom` per variant id:
    [(AC, AN, AF, nhomalt = AC_Hom / 2)], one entry per output record."""
    norm = subprocess.Popen(
        [bcftools, "norm", "-m", "-any", "-f", str(fasta), str(vcf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    tags = subprocess.Popen(
        [bcftools, "+fill-tags", "-", "--", "-t", "AC,AN,AF,AC_Hom"],
        stdin=norm.stdout,
        stdout=subprocess.PIPE,
    )
    assert norm.stdout is not None
    norm.stdout.close()
    query = subprocess.run(
        [bcftools, "query", "-f", "%CHROM-%POS-%REF-%ALT\t%AC\t%AN\t%AF\t%AC_Hom\n", "-"],
        stdin=tags.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tags.wait() == 0 and norm.wait() == 0
    out: dict[str, list[tuple[int, int, float, int]]] = {}
    for line in query.stdout.splitlines():
        vid, ac, an, af, hom = line.split("\t")
        af_value = float(af) if af != "." else float("nan")
        out.setdefault(vid, []).append((int(ac), int(an), af_value, int(hom) // 2))
    return out


def release_rows(path: Path) -> dict[str, dict[str, object]]:
    table = pq.read_table(path)
    return {row["variant_id"]: row for row in table.to_pylist()}


def audit_entries(access_dir: Path) -> list[dict[str, object]]:
    """Every line of the API's audit log under a store's access folder, oldest file first."""
    return [
        json.loads(line)
        for path in sorted((access_dir / "audit").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def genome_samples(
    n: int, *, first_birth_year: int, first_serial: int, planted: dict[int, str] | None = None
) -> pa.Table:
    """A genome delivery's sample table for `n` made-up persons (genome ids PGX00000…),
    alternating XX and XY; `planted` names the variant_key sample i carries (the
    generator's `planted` column)."""
    table = pa.table(
        {
            "genome_id": [f"PGX{i:05d}" for i in range(n)],
            "sample_id": [f"RBGB-{i:07d}" for i in range(n)],
            "cpr": [
                make_cpr(date(first_birth_year + i % 50, 1 + i % 12, 1 + i % 28), first_serial + i)
                for i in range(n)
            ],
            "karyotype": ["XY" if i % 2 else "XX" for i in range(n)],
        }
    )
    if planted is None:
        return table
    column = pa.array([planted.get(i) for i in range(n)], pa.string())
    return table.append_column("planted", column)


def assert_same_aggregate(a: Aggregate, b: Aggregate) -> None:
    """Two aggregates hold the same variants, listings and counts."""
    assert a.sites.ids.tolist() == b.sites.ids.tolist()
    assert np.array_equal(a.listed_by, b.listed_by)
    assert np.array_equal(a.counts, b.counts)


def java_runs_spark() -> bool:
    """A Java runtime of version 17 or later on the PATH (pyspark 4 needs it)."""
    import re
    import shutil
    import subprocess

    if shutil.which("java") is None:
        return False
    shown = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)', shown)
    return found is not None and int(found.group(1)) >= 17


def release_columns(release: Release) -> dict[str, np.ndarray]:
    """A release's published table (frequencies.parquet) as numpy columns: its rows are the
    served index's rows, in the same order."""
    table = pq.read_table(release.frequencies)
    return {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}


def evict(folder: Path) -> None:
    """Drop a served layout's files from the kernel's page cache (written back first: dirty
    pages are not dropped), skipping on filesystems that hold files in memory (tmpfs).

    posix_fadvise is advice: under load the kernel has been seen to keep a page (a clean
    run, then a CI run where the cold request found its block in memory). So the pages are
    checked with mincore and the advice repeated until none is resident; a test that needs
    a cold file fails here, saying so, rather than later with a misleading message."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    where = str(folder.resolve())
    fstype = max(
        ((m[1], m[2]) for m in mounts if where == m[1] or where.startswith(m[1].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
    )[1]
    if fstype in ("tmpfs", "ramfs"):
        pytest.skip(f"{folder} is on {fstype}: its pages cannot be dropped")
    for blocks in folder.glob("*.blocks"):
        for attempt in range(50):
            fd = os.open(blocks, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            resident = resident_pages(blocks)
            if resident == 0:
                break
            time.sleep(0.02 * (attempt + 1))
        else:
            pytest.fail(f"the kernel kept {resident} pages of {blocks.name} in its page cache")


def cold_tries(folder: Path, tries: int = 20) -> Iterator[int]:
    """Try numbers, the served layout evicted before each: for a test of what happens when
    a block must come from disk, which breaks out of the loop once it has seen it.

    A read with RWF_NOWAIT of an evicted page starts the kernel's read-ahead without
    waiting for it, and where the disk answers at once (a virtual disk backed by the
    host's cache) the page is there by the time the kernel looks again: the read succeeds
    in some tries out of ten here. So one try cannot show the wait; twenty all missing it
    (or the code never raising) can."""
    for attempt in range(tries):
        evict(folder)
        yield attempt


def resident_pages(path: Path) -> int:
    """How many of a file's pages the kernel's page cache holds (mincore(2) over a mapping
    of the file; mapping it reads nothing)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    page = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
    libc.mmap.argtypes += [ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    vector = (ctypes.c_ubyte * ((size + page - 1) // page))()
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap {path}")
        try:
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), f"mincore {path}")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)
    return sum(v & 1 for v in vector)


def one_genome_of_each_kind(delivery: Path, manifest_rows: list[dict[str, str]]) -> list[str]:
    """A genome of the test delivery's joint VCF, one of its gVCFs and one of its plain VCFs
    with callable regions: what a release leaving genomes out must subtract in each way."""
    return [
        next(r["genome_id"] for r in manifest_rows if r["vcf_file"].startswith("joint")),
        sorted((delivery / "per_sample").glob("*.g.vcf.gz"))[0].name.removesuffix(".g.vcf.gz"),
        next(r["genome_id"] for r in manifest_rows if r["callable_bed"]),
    ]
