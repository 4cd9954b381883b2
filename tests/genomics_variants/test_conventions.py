"""gnomAD's conventions (frequencies/strata.py) on hand-made files: ploidy at the PAR
boundary for gVCF blocks, XX persons absent from chrY, chrM not counted, and AF never
computed over samples of unknown coverage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import Release
from genomics_variants.pipeline import ingest
from support.deliveries import make_cpr
from support.variants import release_rows, write_vcf
from synthetic_deliveries.genomes_reference import ContigSequence, write_reference_fasta

WINDOW = 2_780_000  # 0-based start of the chrX/chrY window around the end of PAR1 (2,781,479)
SEQUENCE = "ACGT" * 1_000  # every position P with (P - 1 - WINDOW) % 4 == 3 is a T
LENGTHS = {"chr17": 83_257_441, "chrX": 156_040_895, "chrY": 57_227_415, "chrM": 16_569}
IN_PAR, OUT_PAR = 2_781_400, 2_781_600  # both T
KARYOTYPE = {"j1": "XX", "j2": "XY", "gx": "XY", "gf": "XX", "p1": "XX"}


@dataclass(frozen=True)
class Files:
    joint: Path
    gvcfs: tuple[Path, Path]
    plain: Path
    reference: Path
    manifest: Path


def _header(samples: list[str], *, gvcf: bool) -> list[str]:
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in LENGTHS.items()]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if gvcf:
        lines += [
            '##ALT=<ID=NON_REF,Description="Any other allele">',
            '##INFO=<ID=END,Number=1,Type=Integer,Description="Block end">',
            '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
            '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum depth">',
        ]
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
    return [*lines, "\t".join([*columns, *samples])]


def _block(chrom: str) -> str:
    """A passing reference block from inside PAR1 to beyond its end."""
    return f"{chrom}\t2781000\t.\tT\t<NON_REF>\t.\t.\tEND=2782000\tGT:GQ:MIN_DP\t0/0:40:30"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("conventions")
    reference = folder / "reference.fa.gz"
    window = ((WINDOW, np.frombuffer(SEQUENCE.encode(), dtype=np.uint8)),)
    write_reference_fasta(
        reference,
        [
            ContigSequence("chrX", LENGTHS["chrX"], window),
            ContigSequence("chrY", LENGTHS["chrY"], window),
            ContigSequence("chrM", LENGTHS["chrM"], ((0, window[0][1][:200]),)),
        ],
    )
    row = lambda chrom, pos, gts: f"{chrom}\t{pos}\t.\tT\tC\t.\tPASS\t.\tGT\t{gts}"  # noqa: E731
    joint = [
        *_header(["j1", "j2"], gvcf=False),
        row("chrM", 100, "1/1\t0/1"),
        row("chrX", IN_PAR, "0/1\t0/1"),
        row("chrX", OUT_PAR, "0/1\t1"),
        row("chrY", IN_PAR, "0/1\t0/1"),
        row("chrY", OUT_PAR, ".\t1"),
    ]
    plain = [
        *_header(["p1"], gvcf=False),
        row("chrX", IN_PAR, "0/1"),
        row("chrX", 2_781_700, "1/1"),
        row("chrX", 2_783_000, "0/1"),
    ]
    paths = {
        "joint": write_vcf(folder / "joint.vcf.gz", "\n".join(joint) + "\n"),
        "plain": write_vcf(folder / "p1.vcf.gz", "\n".join(plain) + "\n"),
    }
    gvcfs = []
    for sample in ("gx", "gf"):
        text = [*_header([sample], gvcf=True), _block("chrX"), _block("chrY")]
        gvcfs.append(write_vcf(folder / f"{sample}.g.vcf.gz", "\n".join(text) + "\n"))
    manifest = folder / "sample_manifest.tsv"
    lines = ["genome_id\tcpr\tkaryotype"]
    for i, (genome, karyotype) in enumerate(KARYOTYPE.items()):
        lines.append(f"{genome}\t{make_cpr(date(1970 + i, 3, 1 + i), 300 + i)}\t{karyotype}")
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Files(paths["joint"], (gvcfs[0], gvcfs[1]), paths["plain"], reference, manifest)


@pytest.fixture(scope="module")
def release(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Release:
    store = tmp_path_factory.mktemp("store") / "store"
    result, published = ingest(
        store,
        [files.joint, *files.gvcfs, files.plain],
        files.reference,
        manifest=files.manifest,
        workers=1,
        min_change=1,
    )
    assert published.release is not None
    joint = next(f for f in result.files if f.name == files.joint.name)
    assert joint.stats is not None and joint.stats.uncounted == 1  # the chrM record
    assert any("chrM not counted" in note for note in result.notes)
    return published.release


@pytest.fixture(scope="module")
def rows(release: Release) -> dict[str, dict[str, object]]:
    return release_rows(release.frequencies)


def test_gvcf_blocks_take_the_ploidy_of_each_side_of_the_par_boundary(rows: dict) -> None:  # type: ignore[type-arg]
    # inside PAR1 everyone is diploid: j1 2 + j2 2 + gx 2 + gf 2
    assert rows[f"chrX-{IN_PAR}-T-C"]["an"] == 8
    # beyond it the XY block of gx is haploid: j1 2 + j2 1 + gx 1 + gf 2
    assert rows[f"chrX-{OUT_PAR}-T-C"]["an"] == 6
    assert rows[f"chrX-{OUT_PAR}-T-C"]["nhemi"] == 1


def test_xx_persons_contribute_nothing_on_chry(rows: dict) -> None:  # type: ignore[type-arg]
    chry = rows[f"chrY-{OUT_PAR}-T-C"]
    assert (chry["an"], chry["an_XX"], chry["ac"], chry["nhemi"]) == (2, 0, 1, 1)
    assert chry["call_rate"] == 1.0  # XX persons are not uncalled samples there: not samples
    par = rows[f"chrY-{IN_PAR}-T-C"]  # nor in the PARs: j1's allele does not count
    assert (par["ac"], par["an"], par["an_XX"]) == (1, 4, 0)  # j2 2 + gx 2


def test_chrm_is_not_counted(rows: dict) -> None:  # type: ignore[type-arg]
    assert not [v for v in rows if v.startswith("chrM-")]


def test_af_is_never_computed_over_samples_of_unknown_coverage(rows: dict) -> None:  # type: ignore[type-arg]
    """p1's plain VCF carries both variants; it adds to seen_unknown_coverage only."""
    shared = rows[f"chrX-{IN_PAR}-T-C"]
    assert (shared["ac"], shared["an"], shared["af"]) == (2, 8, 0.25)
    assert shared["seen_unknown_coverage"] == 1
    covered = rows["chrX-2781700-T-C"]  # absent where the blocks of gx (1) and gf (2) cover it
    assert (covered["ac"], covered["an"], covered["af"], covered["seen_unknown_coverage"]) == (
        0,
        3,
        0.0,
        1,
    )
    uncovered = rows["chrX-2783000-T-C"]  # nobody of known coverage: no AN, no AF
    assert (uncovered["ac"], uncovered["an"], uncovered["ac_raw"], uncovered["an_raw"]) == (0,) * 4
    assert uncovered["af"] is None and uncovered["af_raw"] is None and uncovered["faf95"] == 0
    assert uncovered["seen_unknown_coverage"] == 1 and uncovered["grpmax"] is None


def test_an_is_published_at_every_callable_site(release: Release) -> None:
    """Absent (covered, AN > 0) and not covered (AN 0) differ where no variant was seen."""
    index = FrequencyIndex(release)
    assert index.row("chrX-2781100-T-C") is None
    assert index.callable_an("chrX", 2_781_100)["all"] == 4  # gx 2 + gf 2, inside PAR1
    beyond = index.callable_an("chrX", 2_781_900)  # gx haploid, gf diploid
    assert (beyond["all"], beyond["XY"], beyond["XX"]) == (3, 1, 2)
    on_y = index.callable_an("chrY", 2_781_900)  # gf is XX: nothing anywhere on chrY
    assert (on_y["all"], on_y["XX"]) == (1, 0)
    in_par = index.callable_an("chrY", 2_781_100)
    assert (in_par["all"], in_par["XX"]) == (2, 0)
    assert (
        index.callable_an("chrX", 2_783_000)["all"] == 0
    )  # not covered: p1 is of unknown coverage
    assert index.callable_an("chr17", 100)["all"] == 0
    assert release.meta["callable_intervals"] == 4  # chrX in/out of PAR1, chrY in/out
