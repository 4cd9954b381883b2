"""The synthetic genome delivery must look, to the ingest side and to bcftools, like the real one."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import shutil
import subprocess
from datetime import date
from itertools import pairwise
from pathlib import Path

import cyvcf2
import numpy as np
import pyarrow as pa
import pysam
import pytest

from synthetic_deliveries.genomes import DEFAULT_WINDOWS, write_genomes
from synthetic_deliveries.genomes_reference import GRCH38_CONTIGS

N_SAMPLES = 24
SEED = 20250331
CUTOFF = date(2025, 3, 31)
CPR_PREFIX = "0101909"


def _samples(n: int = N_SAMPLES) -> pa.Table:
    return pa.table(
        {
            "genome_id": [f"NGC{i:05d}" for i in range(n)],
            "sample_id": [f"RBGB-{i:07d}" for i in range(n)],
            "cpr": [f"{CPR_PREFIX}{i:03d}" for i in range(n)],
            "karyotype": ["XY" if i % 3 == 0 else "XX" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[tuple]]:
    """Two deliveries from the same inputs, and the progress reports of the first."""
    reports: list[tuple] = []
    first = write_genomes(
        tmp_path_factory.mktemp("a"),
        _samples(),
        seed=SEED,
        cutoff=CUTOFF,
        progress=lambda *report: reports.append(report),
    )
    second = write_genomes(tmp_path_factory.mktemp("b"), _samples(), seed=SEED, cutoff=CUTOFF)
    return first, second, reports


@pytest.fixture(scope="module")
def delivery(runs: tuple[Path, Path, list[tuple]]) -> Path:
    return runs[0]


def _vcfs(delivery: Path) -> list[Path]:
    return sorted(delivery.glob("**/*.vcf.gz"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _in_haploid_window(contig: str, pos: int) -> bool:
    return any(
        w.haploid_in_xy and w.contig == contig and w.start <= pos <= w.end for w in DEFAULT_WINDOWS
    )


def _digests(delivery: Path) -> dict[str, str]:
    return {
        p.relative_to(delivery).as_posix(): _sha256(p) for p in delivery.rglob("*") if p.is_file()
    }


def _records_digest(vcf: Path) -> str:
    """A digest of the data lines of a bgzipped VCF (its header left out)."""
    lines = gzip.decompress(vcf.read_bytes()).decode().splitlines()
    records = [line for line in lines if not line.startswith("#")]
    assert records, f"{vcf} holds no records"
    return hashlib.sha256("\n".join(records).encode()).hexdigest()


def test_same_seed_gives_byte_identical_delivery(
    runs: tuple[Path, Path, list[tuple]], tmp_path: Path
) -> None:
    first, second, _ = runs
    digests = _digests(first)
    # the comparison below must not pass for want of files
    assert {"manifest.json", "sample_manifest.tsv", "joint/cohort.vcf.gz"} <= set(digests)
    assert any(name.startswith("per_sample/") for name in digests)
    assert _digests(second) == digests
    # and the seed matters: another seed gives other genotypes
    other = write_genomes(tmp_path, _samples(), seed=SEED + 1, cutoff=CUTOFF)
    joint = Path("joint/cohort.vcf.gz")
    assert _records_digest(other / joint) != _records_digest(first / joint)


def test_progress_is_reported(runs: tuple[Path, Path, list[tuple]]) -> None:
    labels = {label for label, _, _ in runs[2]}
    assert {"genomes: joint VCF", "genomes: single-sample VCFs"} <= labels
    assert all(0 <= done <= total for _, done, total in runs[2])


def test_layout_and_manifest(delivery: Path) -> None:
    assert delivery.name == "genomes-202503"
    manifest = json.loads((delivery / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["name"]: f for f in manifest["files"]}
    data_files = {str(p.relative_to(delivery)) for p in _vcfs(delivery)}
    data_files |= {str(p.relative_to(delivery)) for p in delivery.glob("per_sample/*.bed")}
    data_files |= {"reference/GRCh38_subset.fa.gz", "sample_manifest.tsv"}
    assert set(listed) == data_files
    assert any(name.endswith(".callable.bed") for name in listed)
    for name, entry in listed.items():
        assert entry["sha256"] == _sha256(delivery / name)
        if name.endswith(".vcf.gz"):
            assert (delivery / f"{name}.tbi").exists()
            assert entry["rows"] == sum(1 for _ in cyvcf2.VCF(str(delivery / name)))
    for suffix in (".fai", ".gzi"):
        assert (delivery / f"reference/GRCh38_subset.fa.gz{suffix}").exists()
    assert len(list(delivery.glob("per_sample/*.g.vcf.gz"))) in (2, 3)


def test_headers_name_all_grch38_contigs_and_nothing_run_dependent(delivery: Path) -> None:
    for path in _vcfs(delivery):
        with pysam.VariantFile(str(path)) as vcf:
            header = vcf.header
            assert {name: header.contigs[name].length for name in header.contigs} == dict(
                GRCH38_CONTIGS
            )
            text = str(header)
        assert text.startswith("##fileformat=VCFv4.")
        assert "##reference=GRCh38\n" in text
        assert "##source=medfollow-synth\n" in text
        assert "assembly=GRCh38" in text
        assert not re.search(r"date|time|command", text, flags=re.IGNORECASE)
        assert {"GT", "GQ", "DP", "AD"} <= set(header.formats)


def test_reference_fasta_has_true_lengths_and_n_outside_windows(delivery: Path) -> None:
    with pysam.FastaFile(str(delivery / "reference/GRCh38_subset.fa.gz")) as fasta:
        assert dict(zip(fasta.references, fasta.lengths, strict=True)) == {
            "chr17": 83_257_441,
            "chrX": 156_040_895,
        }
        assert set(fasta.fetch("chr17", 0, 1000)) == {"N"}
        assert set(fasta.fetch("chrX", 156_040_000, 156_040_895)) == {"N"}
        window = DEFAULT_WINDOWS[0]
        inside = fasta.fetch(window.contig, window.start - 1, window.end)
        assert set(inside) == set("ACGT")
        assert re.search(r"A{8,}|C{8,}|G{8,}|T{8,}", inside), "no homopolymer runs"


def test_every_ref_allele_matches_the_fasta(delivery: Path) -> None:
    with pysam.FastaFile(str(delivery / "reference/GRCh38_subset.fa.gz")) as fasta:
        for path in _vcfs(delivery):
            for record in cyvcf2.VCF(str(path)):
                start = record.POS - 1
                assert fasta.fetch(record.CHROM, start, start + len(record.REF)) == record.REF


def test_ploidy_follows_karyotype_and_pars(delivery: Path) -> None:
    karyotype = {
        row["genome_id"]: row["karyotype"]
        for row in csv.DictReader(
            (delivery / "sample_manifest.tsv").open(encoding="utf-8"), delimiter="\t"
        )
    }
    haploid_calls = 0
    for path in _vcfs(delivery):
        with pysam.VariantFile(str(path)) as vcf:
            for record in vcf:
                haploid_site = _in_haploid_window(record.chrom, record.pos)
                for sample, call in record.samples.items():
                    expected = 1 if haploid_site and karyotype[sample] == "XY" else 2
                    assert len(call["GT"]) == expected, (path.name, record.pos, sample)
                    assert expected == 1 or not call.phased  # htslib calls haploid "phased"
                    haploid_calls += expected == 1
    assert haploid_calls > 0


def test_joint_vcf_has_multiallelics_indels_and_mixed_sites(delivery: Path) -> None:
    records = [(r.REF, r.ALT) for r in cyvcf2.VCF(str(delivery / "joint/cohort.vcf.gz"))]
    multiallelic = [alts for _, alts in records if len(alts) > 1]
    indels = [(ref, alts) for ref, alts in records if any(len(a) != len(ref) for a in alts)]
    mixed = [
        alts
        for ref, alts in records
        if len(alts) > 1
        and any(len(a) != len(ref) for a in alts)
        and any(len(a) == len(ref) for a in alts)
    ]
    assert multiallelic and mixed
    assert 0.03 < len(indels) / len(records) < 0.12


def test_calls_carry_qc_evidence(delivery: Path) -> None:
    vcf = cyvcf2.VCF(str(delivery / "joint/cohort.vcf.gz"))
    dp, gq, balance, missing = [], [], [], 0
    for record in vcf:
        gt = record.genotype.array()[:, :2]
        called = gt[:, 0] >= 0
        missing += int((~called).sum())
        depth, quality = record.format("DP")[:, 0], record.format("GQ")[:, 0]
        ad = record.format("AD")
        assert np.all(ad[called].sum(axis=1) <= depth[called])
        dp.extend(depth[called])
        gq.extend(quality[called])
        het = called & (gt[:, 1] >= 0) & (gt[:, 0] != gt[:, 1])
        if het.any():
            rows = np.flatnonzero(het)
            alt = ad[rows, np.maximum(gt[rows, 0], gt[rows, 1])]
            balance.extend(alt / np.maximum(depth[rows], 1))
    dp_arr, gq_arr = np.array(dp), np.array(gq)
    assert missing > 0
    assert (dp_arr < 5).any() and (dp_arr < 10).any() and (gq_arr < 20).any()
    assert (np.array(balance) < 0.2).any()
    assert np.median(dp_arr) > 20


def test_single_sample_vcfs_hold_only_carried_alleles(delivery: Path) -> None:
    plain = [p for p in delivery.glob("per_sample/*.vcf.gz") if not p.name.endswith(".g.vcf.gz")]
    assert plain
    for path in plain:
        vcf = cyvcf2.VCF(str(path))
        assert len(vcf.samples) == 1
        for record in vcf:
            alleles = [a for a in record.genotypes[0][:-1] if a >= 0]
            assert alleles and max(alleles) > 0
            assert max(alleles) == len(record.ALT)  # only the sample's own ALTs are listed


def test_gvcf_has_reference_blocks_that_tile_without_overlap(delivery: Path) -> None:
    for path in delivery.glob("per_sample/*.g.vcf.gz"):
        spans: dict[str, list[tuple[int, int]]] = {}
        blocks = 0
        for record in cyvcf2.VCF(str(path)):
            assert record.ALT[-1] == "<NON_REF>"
            end = record.INFO.get("END")
            blocks += end is not None
            stop = end if end is not None else record.POS + len(record.REF) - 1
            spans.setdefault(record.CHROM, []).append((record.POS, stop))
        assert blocks > 0
        for intervals in spans.values():
            assert all(a[1] < b[0] for a, b in pairwise(intervals))


def test_sample_manifest_ties_genomes_to_files(delivery: Path) -> None:
    with (delivery / "sample_manifest.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == [
        "genome_id",
        "sample_id",
        "cpr",
        "karyotype",
        "vcf_file",
        "callable_bed",
    ]
    assert [r["genome_id"] for r in rows] == _samples().column("genome_id").to_pylist()
    joint = [r for r in rows if r["vcf_file"] == "joint/cohort.vcf.gz"]
    assert 0.7 <= len(joint) / len(rows) <= 0.9
    for row in rows:
        samples = cyvcf2.VCF(str(delivery / row["vcf_file"])).samples
        assert row["genome_id"] in samples
        if row["callable_bed"]:
            assert row["vcf_file"].startswith("per_sample/")
            assert (delivery / row["callable_bed"]).exists()
    single = [r for r in rows if r["vcf_file"].startswith("per_sample/")]
    with_bed = [r for r in single if r["callable_bed"]]
    assert 0 < len(with_bed) < len(single)  # plain VCFs of known and of unknown coverage


def _bed(path: Path) -> dict[str, np.ndarray]:
    """contig -> (n, 2) array of 1-based inclusive intervals."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        contig, start, end = line.split("\t")
        spans.setdefault(contig, []).append((int(start) + 1, int(end)))
    return {contig: np.array(s) for contig, s in spans.items()}


def test_callable_regions_hold_exactly_the_calls_that_pass_adj(delivery: Path) -> None:
    """A BED interval promises passing hom-ref calls: the sample's weak calls (GQ < 20, DP
    < 10, haploid < 5) lie outside every interval and its passing records inside one."""
    with (delivery / "sample_manifest.tsv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["callable_bed"]]
    windows = {(w.contig, w.start, w.end) for w in DEFAULT_WINDOWS}
    inside_weak = outside_passing = checked = 0
    for row in rows:
        spans = _bed(delivery / row["callable_bed"])
        for contig, intervals in spans.items():
            assert (intervals[:, 0] <= intervals[:, 1]).all()
            assert (intervals[1:, 0] > intervals[:-1, 1] + 1).all()  # sorted, apart
            for start, end in intervals.tolist():
                assert any(c == contig and lo <= start and end <= hi for c, lo, hi in windows)
        for record in cyvcf2.VCF(str(delivery / row["vcf_file"])):
            haploid = len(record.genotypes[0]) == 2
            gq, dp = int(record.format("GQ")[0, 0]), int(record.format("DP")[0, 0])
            passing = gq >= 20 and dp >= (5 if haploid else 10)
            intervals = spans.get(record.CHROM, np.zeros((0, 2), dtype=int))
            at = np.searchsorted(intervals[:, 0], record.POS, side="right") - 1
            inside = at >= 0 and intervals[at, 1] >= record.POS
            inside_weak += inside and not passing
            outside_passing += passing and not inside
            checked += 1
    assert checked > 0
    assert inside_weak == 0 and outside_passing == 0


def test_joint_vcf_mixes_format_layouts(delivery: Path) -> None:
    """About one record in five is in GATK's layout (GT:AD:DP:GQ:PL, with one PL per
    genotype, the called one 0 and the next likeliest GQ); the rest are GT:GQ:DP:AD."""
    layouts: dict[str, int] = {}
    for record in cyvcf2.VCF(str(delivery / "joint/cohort.vcf.gz")):
        layout = ":".join(record.FORMAT)
        layouts[layout] = layouts.get(layout, 0) + 1
        assert layout == ("GT:AD:DP:GQ:PL" if record.POS % 5 == 0 else "GT:GQ:DP:AD")
        if "PL" not in record.FORMAT:
            continue
        n = len(record.ALT) + 1
        pl, gq = record.format("PL"), record.format("GQ")[:, 0]
        for sample, call in enumerate(record.genotypes):
            alleles = call[:-1]
            if alleles[0] < 0:
                continue
            values = pl[sample][: n if len(alleles) == 1 else n * (n + 1) // 2]
            assert (values >= 0).all() and sorted(values)[0] == 0
            assert sorted(values)[1] == gq[sample]
    assert layouts["GT:GQ:DP:AD"] > layouts["GT:AD:DP:GQ:PL"] > 0


def test_bcftools_normalises_without_ref_mismatch(delivery: Path) -> None:
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not installed (apt-get install bcftools)")
    reference = delivery / "reference/GRCh38_subset.fa.gz"
    norm = subprocess.run(
        ["bcftools", "norm", "-m", "-any", "-f", str(reference), "-Ou", "-o", "/dev/null",
         str(delivery / "joint/cohort.vcf.gz")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert norm.returncode == 0, norm.stderr
    assert "REF_MISMATCH" not in norm.stderr and "not match" not in norm.stderr
    totals = re.search(r"total/split/realigned/skipped:\s+(\d+)/(\d+)/(\d+)/(\d+)", norm.stderr)
    assert totals, norm.stderr
    _, split, realigned, skipped = map(int, totals.groups())
    assert split > 0 and realigned > 0 and skipped == 0
    tags = subprocess.run(
        ["bcftools", "+fill-tags", str(delivery / "joint/cohort.vcf.gz"), "-Ou", "-o", "/dev/null",
         "--", "-t", "AC,AN,AF,AC_Hom"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tags.returncode == 0, tags.stderr


def test_invalid_samples_are_rejected_without_revealing_cpr(tmp_path: Path) -> None:
    table = _samples(5)
    bad = table.set_column(3, "karyotype", pa.array(["XX", "XY", "XXY", "XX", "XY"]))
    with pytest.raises(ValueError, match="row 2") as excinfo:
        write_genomes(tmp_path, bad, seed=1, cutoff=CUTOFF)
    assert CPR_PREFIX not in str(excinfo.value)
    duplicated = table.set_column(0, "genome_id", pa.array(["G1", "G1", "G2", "G3", "G4"]))
    with pytest.raises(ValueError, match="duplicates"):
        write_genomes(tmp_path, duplicated, seed=1, cutoff=CUTOFF)
    assert not (tmp_path / "genomes").exists() or not any((tmp_path / "genomes").iterdir())


def test_deliveries_of_some_rows_come_from_the_one_simulation(
    delivery: Path, tmp_path: Path
) -> None:
    """Rows delivered in two parts (as monthly rounds deliver them) get byte-identical
    references, the same kind of file and the same calls as in one delivery of all rows,
    and each part's joint VCF holds only sites its own samples carry."""
    halves = (range(0, N_SAMPLES // 2), range(N_SAMPLES // 2, N_SAMPLES))
    parts = [
        write_genomes(tmp_path / str(i), _samples(), seed=SEED, cutoff=CUTOFF, deliver=rows)
        for i, rows in enumerate(halves)
    ]
    whole = _digests(delivery)

    def rows(folder: Path) -> list[str]:
        return (folder / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]

    assert rows(parts[0]) + rows(parts[1]) == rows(delivery)  # same split into files
    joint_samples: list[str] = []
    for part in parts:
        digests = _digests(part)
        for name, digest in digests.items():
            if name.startswith("reference/") or (
                name.startswith("per_sample/") and not name.endswith(".g.vcf.gz")
            ):
                assert digest == whole[name], name
        with pysam.VariantFile(str(part / "joint" / "cohort.vcf.gz")) as joint:
            joint_samples += list(joint.header.samples)
            for rec in joint:
                calls = [a for s in rec.samples.values() for a in s["GT"]]
                assert any(a is not None and a > 0 for a in calls), (rec.chrom, rec.pos)
    assert sum(name.startswith("per_sample/") for p in parts for name in _digests(p)) == sum(
        name.startswith("per_sample/") for name in whole
    )
    with pysam.VariantFile(str(delivery / "joint" / "cohort.vcf.gz")) as joint:
        assert joint_samples == list(joint.header.samples)
    # A delivery without jointly called genomes has no joint VCF (no joint-calling run).
    alone = next(i for i, row in enumerate(rows(delivery)) if "\tper_sample/" in row)
    single = write_genomes(
        tmp_path / "alone", _samples(), seed=SEED, cutoff=CUTOFF, deliver=range(alone, alone + 1)
    )
    assert rows(single) == [rows(delivery)[alone]]
    assert not (single / "joint").exists()
    assert "joint/cohort.vcf.gz" not in (single / "manifest.json").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="deliver"):
        write_genomes(tmp_path / "x", _samples(), seed=SEED, cutoff=CUTOFF, deliver=range(20, 30))
