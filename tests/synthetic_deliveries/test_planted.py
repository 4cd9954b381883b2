"""Planted named positions in the synthetic genome delivery: the reference carries each
position's REF, the VCFs carry exactly the planted genotypes, TPMT*3A comes in cis, the
answer key marks missing calls and plain VCFs without a BED as not covered, and the same
seed gives the same bytes."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import cyvcf2
import numpy as np
import pyarrow as pa
import pysam
import pytest

from support.deliveries import make_cpr
from synthetic_deliveries.genomes import write_genomes
from synthetic_deliveries.planted import load_named_positions, plant

N = 50
CUTOFF = date(2026, 3, 31)
POSITIONS = load_named_positions()


def _samples() -> pa.Table:
    return pa.table(
        {
            "genome_id": [f"PL{i:04d}" for i in range(N)],
            "sample_id": [f"S{i:05d}" for i in range(N)],
            "cpr": [
                make_cpr(date(1960 + i % 40, 1 + i % 12, 1 + i % 28), 700 + i) for i in range(N)
            ],
            "karyotype": ["XX" if i % 3 else "XY" for i in range(N)],
            "planted": pa.array(
                ["LDLR_c.1775G>A" if i in (3, 4) else None for i in range(N)], pa.string()
            ),
        }
    )


def _write(root: Path) -> Path:
    return write_genomes(
        root / "landing",
        _samples(),
        seed=99,
        cutoff=CUTOFF,
        windows=(),
        positions=POSITIONS,
        truth=root / "truth",
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("planted")
    return root, _write(root)


def _truth(root: Path) -> dict[tuple[str, str], tuple[str, bool]]:
    with (root / "truth" / "genome_positions.csv").open(encoding="utf-8", newline="") as fh:
        return {
            (r["genome_id"], r["variant_key"]): (r["genotype"], r["covered"] == "true")
            for r in csv.DictReader(fh)
        }


def test_reference_has_the_ref_base_at_every_named_position(written: tuple[Path, Path]) -> None:
    _, delivery = written
    with pysam.FastaFile(str(delivery / "reference" / "GRCh38_subset.fa.gz")) as fasta:
        for p in POSITIONS:
            assert fasta.fetch(p.chrom, p.pos - 1, p.pos - 1 + len(p.ref)) == p.ref, p
            assert fasta.get_reference_length(p.chrom) > p.pos
            assert set(fasta.fetch(p.chrom, p.pos - 1000, p.pos - 200)) == {"N"}


def test_vcfs_carry_the_planted_genotypes(written: tuple[Path, Path]) -> None:
    root, delivery = written
    truth = _truth(root)
    by_site = {(p.chrom, p.pos, p.ref, p.alt): p.variant_key for p in POSITIONS}
    with (delivery / "sample_manifest.tsv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh, delimiter="\t"))
    seen = 0
    for vcf_file in sorted({r["vcf_file"] for r in manifest}):
        reader = cyvcf2.VCF(str(delivery / vcf_file))
        for record in reader:
            key = by_site.get((record.CHROM, record.POS, record.REF, record.ALT[0]))
            if key is None:
                continue
            for sample, gt in zip(reader.samples, record.genotypes, strict=True):
                if gt[0] < 0:
                    assert not truth[(sample, key)][1]  # a missing call is not covered
                    continue
                planted = truth[(sample, key)][0]
                assert f"{min(gt[:2])}/{max(gt[:2])}" == planted, (sample, key)
                seen += 1
    assert seen > 0
    # The planted LDLR carriers are heterozygous; nobody else carries it.
    ldlr = {g for (g, k), (gt, _) in truth.items() if k == "LDLR_c.1775G>A" and gt != "0/0"}
    assert ldlr == {"PL0003", "PL0004"}


def test_answer_key_exercises_every_outcome(written: tuple[Path, Path]) -> None:
    root, delivery = written
    truth = _truth(root)
    assert len(truth) == N * len(POSITIONS)
    assert {gt for gt, _ in truth.values()} == {"0/0", "0/1", "1/1"}
    covered = [c for _, c in truth.values()]
    assert any(covered) and not all(covered)
    with (delivery / "sample_manifest.tsv").open(encoding="utf-8") as fh:
        plain = [
            r["genome_id"]
            for r in csv.DictReader(fh, delimiter="\t")
            if r["vcf_file"].startswith("per_sample/")
            and not r["callable_bed"]
            and not (delivery / r["vcf_file"].replace(".vcf.gz", ".g.vcf.gz")).exists()
        ]
    assert plain
    for genome in plain:  # unknown coverage: covered only where it has a record
        for p in POSITIONS:
            genotype, covered_here = truth[(genome, p.variant_key)]
            assert not covered_here or genotype != "0/0"


def test_tpmt_star3a_is_in_cis_and_frequencies_are_plausible() -> None:
    planting = plant(POSITIONS, [None] * 4000, np.random.SeedSequence(5))
    index = {p.variant_key: i for i, p in enumerate(POSITIONS)}
    b, c = planting.copies[index["TPMT_c.460G>A"]], planting.copies[index["TPMT_c.719A>G"]]
    assert ((b > 0) & (c > 0)).mean() > 0.05  # *3A carriers carry both
    af = planting.copies.sum(axis=1) / (2 * 4000)
    assert 0.12 < af[index["CYP2C19_c.681G>A"]] < 0.18
    assert 0.17 < af[index["CYP2C19_c.-806C>T"]] < 0.23
    assert af[index["LDLR_c.1775G>A"]] == 0
    assert 0.02 < planting.missing.mean() < 0.04


def test_same_seed_same_bytes(written: tuple[Path, Path], tmp_path: Path) -> None:
    root, delivery = written
    again = _write(tmp_path)

    def digests(folder: Path) -> dict[str, str]:
        return {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*")
            if p.is_file()
        }

    assert digests(again) == digests(delivery)
    assert (tmp_path / "truth" / "genome_positions.csv").read_bytes() == (
        root / "truth" / "genome_positions.csv"
    ).read_bytes()
