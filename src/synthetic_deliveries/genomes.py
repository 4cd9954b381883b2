"""Synthetic whole-genome delivery from the national genome centre.

A delivery mirrors what the ingest side will meet in production: most genomes jointly called
in one multi-sample VCF, the rest as single-sample VCFs (a few also as gVCFs with reference
blocks), a sample manifest tying genome id to biobank sample and person, and the reference
FASTA the calls were made against. Genotypes come from a coalescent simulation (msprime) of a
few GRCh38 windows (BRCA1 on chr17, chrX inside and outside PAR1), so allele frequencies and
linkage look like a real population, and the evidence fields give genotype QC real work.

A world sequenced over several months is one simulation: `write_genomes` is given every
genome of the world and the rows one month delivers, so each month's delivery carries the
same reference FASTA (byte for byte, as real deliveries are all called against the same
GRCh38), its genomes' genotypes are drawn at the same sites, and a genome is jointly called,
delivered alone, as gVCF or with a callable BED whichever month delivers it.

Layout under `landing/genomes/genomes-YYYYMM/`:

    reference/GRCh38_subset.fa.gz (+ .fai, .gzi)
    joint/cohort.vcf.gz (+ .tbi), absent when no genome of the delivery is jointly called
    per_sample/<genome_id>.vcf.gz (+ .tbi), a few also <genome_id>.g.vcf.gz (+ .tbi)
    per_sample/<genome_id>.callable.bed for every other single-sample genome
    sample_manifest.tsv
    manifest.json

Given named positions (planted.py: the dbt seed of pharmacogenetic and FH variants), the
delivery also carries a short window around each, with the variants planted at their
GRCh38 positions, and, given a `truth` folder, the answer key `genome_positions.csv`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
from pysam.libcbgzf import BGZFile

from medfollow_core.landing.manifest import write_manifest
from medfollow_core.types import Progress
from synthetic_deliveries.genomes_calls import (
    Calls,
    compact_alleles,
    sample_coverage,
    simulate_calls,
)
from synthetic_deliveries.genomes_reference import (
    CONTIG_LENGTH,
    CONTIG_RANK,
    ContigSequence,
    write_reference_fasta,
)
from synthetic_deliveries.genomes_sites import Window, WindowSites, build_window
from synthetic_deliveries.genomes_vcf import (
    SampleSlice,
    callable_lines,
    gvcf_lines,
    index_vcf,
    joint_lines,
    rows_to_bytes,
    variant_lines,
    vcf_header,
    write_bgzf_vcf,
)
from synthetic_deliveries.planted import (
    NamedPosition,
    Planting,
    covered_cells,
    plant,
    planted_calls,
    write_truth,
)

__all__ = ["DEFAULT_WINDOWS", "NamedPosition", "Window", "write_genomes"]


SOURCE = "genomes"
REFERENCE_FILE = "reference/GRCh38_subset.fa.gz"
JOINT_FILE = "joint/cohort.vcf.gz"
SAMPLE_MANIFEST_FILE = "sample_manifest.tsv"
SAMPLE_COLUMNS = ("genome_id", "sample_id", "cpr", "karyotype")
GENOME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
CELLS_PER_CHUNK = 1_000_000  # calls simulated and rendered at once (bounds memory)

DEFAULT_WINDOWS: tuple[Window, ...] = (
    # BRCA1 is chr17:43,044,295-43,125,483.
    Window("chr17", 43_000_000, 43_399_999),
    # PAR1 (chrX:10,001-2,781,479): every male meiosis crosses over here.
    Window("chrX", 1_000_000, 1_099_999, recombination_rate=1e-7),
    # chrX outside the PARs: haploid in XY, three copies per four autosomal ones.
    Window("chrX", 30_000_000, 30_199_999, population_size=7_500.0),
)


@dataclass(frozen=True)
class Cohort:
    """The validated `samples` table (every simulated genome, indexed by row) and which of
    them a delivery holds in which files."""

    genome_id: list[str]
    sample_id: list[str]
    cpr: list[str]
    karyotype: list[str]
    joint: np.ndarray  # sample indices in the joint VCF
    single: np.ndarray  # sample indices delivered as single-sample VCFs
    gvcf: np.ndarray  # positions within `single` also delivered as gVCF
    with_bed: np.ndarray  # positions within `single` delivered with a callable-regions BED

    @property
    def xy(self) -> np.ndarray:
        return np.array([k == "XY" for k in self.karyotype], dtype=bool)

    @property
    def delivered(self) -> np.ndarray:
        """Sample indices this delivery holds, in table order."""
        return np.sort(np.concatenate([self.joint, self.single]))

    def restrict(self, rows: range) -> Cohort:
        """The same split for the samples of `rows` only: each keeps its kind of file, so
        the split does not depend on which delivery carries a genome."""
        single = (self.single >= rows.start) & (self.single < rows.stop)
        position = np.cumsum(single) - 1  # position within the restricted `single`
        return replace(
            self,
            joint=self.joint[(self.joint >= rows.start) & (self.joint < rows.stop)],
            single=self.single[single],
            gvcf=position[self.gvcf[single[self.gvcf]]],
            with_bed=position[self.with_bed[single[self.with_bed]]],
        )


def _read_samples(samples: pa.Table) -> dict[str, list[str]]:
    """Check the samples table; errors name rows and columns, never a CPR number."""
    absent = [c for c in SAMPLE_COLUMNS if c not in samples.column_names]
    if absent:
        raise ValueError(f"samples table lacks column(s): {', '.join(absent)}")
    if samples.num_rows == 0:
        raise ValueError("samples table is empty")
    columns = {c: samples.column(c).to_pylist() for c in SAMPLE_COLUMNS}
    for name, values in columns.items():
        for row, value in enumerate(values):
            if not isinstance(value, str) or not value or any(ch in value for ch in "\t\r\n"):
                raise ValueError(f"samples.{name}: row {row} is empty or holds a tab/newline")
    for row, (genome_id, karyotype) in enumerate(
        zip(columns["genome_id"], columns["karyotype"], strict=True)
    ):
        if not GENOME_ID.fullmatch(genome_id):
            raise ValueError(f"samples.genome_id: row {row} is not usable as a file name")
        if karyotype not in ("XX", "XY"):
            raise ValueError(f"samples.karyotype: row {row} is neither XX nor XY")
    if len(set(columns["genome_id"])) != samples.num_rows:
        raise ValueError("samples.genome_id has duplicates")
    return columns


def _split_cohort(
    columns: dict[str, list[str]], joint_fraction: float, rng: np.random.Generator
) -> Cohort:
    """Choose, reproducibly, which genomes are jointly called and which come one by one."""
    if not 0.0 < joint_fraction <= 1.0:
        raise ValueError("joint_fraction must be in (0, 1]")
    n = len(columns["genome_id"])
    n_single = 0 if n < 2 else min(n - 1, round(n * (1.0 - joint_fraction)))
    order = rng.permutation(n)
    n_gvcf = min(n_single, 3 if n_single >= 10 else 2)
    return Cohort(
        **columns,
        joint=np.sort(order[n_single:]),
        single=np.sort(order[:n_single]),
        gvcf=np.sort(rng.choice(n_single, size=n_gvcf, replace=False)),
        # Every other one, so a delivery has plain VCFs of known and of unknown coverage.
        with_bed=np.arange(0, n_single, 2),
    )


def _check_windows(windows: Sequence[Window]) -> tuple[Window, ...]:
    """Validate windows and put them in genome order; they must not overlap."""
    ordered = tuple(sorted(windows, key=lambda w: (CONTIG_RANK[w.contig], w.start)))
    if not ordered:
        raise ValueError("at least one window is needed")
    for window in ordered:
        window.validate()
    for before, after in pairwise(ordered):
        if before.contig == after.contig and after.start <= before.end:
            raise ValueError(f"windows {before.label} and {after.label} overlap")
    return ordered


def _reference_contigs(sites: Sequence[WindowSites]) -> list[ContigSequence]:
    """FASTA contigs (genome order) carrying every simulated window's sequence."""
    contigs: dict[str, list[tuple[int, np.ndarray]]] = {}
    for window_sites in sites:
        window = window_sites.window
        contigs.setdefault(window.contig, []).append((window.start - 1, window_sites.sequence))
    return [ContigSequence(name, CONTIG_LENGTH[name], tuple(w)) for name, w in contigs.items()]


def _write_joint(
    path: Path,
    cohort: Cohort,
    sites: Sequence[WindowSites],
    coverage: np.ndarray,
    seeds: Sequence[np.random.SeedSequence],
    report: Progress,
) -> tuple[int, list[SampleSlice]]:
    """Simulate every call, stream the joint VCF and keep the single-sample genomes' calls.

    Calls are simulated for every sample of the table, delivered or not, so a genome's calls
    do not depend on which delivery carries it; the joint VCF lists only the alleles its own
    samples carry, and no site where they carry none (what joint calling them would emit).
    Without jointly called genomes in the delivery no joint VCF is written. Returns the joint
    record count and one SampleSlice per window for the other writers.
    """
    n_samples = len(cohort.genome_id)
    chunk = max(1, CELLS_PER_CHUNK // n_samples)
    total, done, records = sum(len(s.pos) for s in sites), 0, 0
    slices: list[SampleSlice] = []
    with ExitStack() as stack:
        out = None
        if len(cohort.joint):
            path.parent.mkdir(parents=True, exist_ok=True)
            out = stack.enter_context(BGZFile(str(path), "wb", index=None))
            out.write(vcf_header([cohort.genome_id[i] for i in cohort.joint], gvcf=False))
        for window_sites, seed_seq in zip(sites, seeds, strict=True):
            rng = np.random.default_rng(seed_seq)
            kept_calls: list[Calls] = []
            # At least one (possibly empty) block, so a window without sites still yields a slice.
            for lo in range(0, max(1, len(window_sites.pos)), chunk):
                block = slice(lo, lo + chunk)
                if window_sites.missing is None:
                    calls = simulate_calls(
                        window_sites.hap[block], window_sites.haploid, coverage, rng
                    )
                else:
                    calls = planted_calls(window_sites.hap[block], window_sites.missing[block], rng)
                if out is not None:
                    joint, alleles, n_alleles = compact_alleles(
                        calls.select(cohort.joint),
                        window_sites.alleles[block],
                        window_sites.n_alleles[block],
                    )
                    polymorphic = n_alleles > 1
                    out.write(
                        joint_lines(
                            window_sites.window.contig,
                            window_sites.pos[block][polymorphic],
                            alleles[polymorphic],
                            n_alleles[polymorphic],
                            joint.rows(polymorphic),
                        )
                    )
                    records += int(polymorphic.sum())
                kept_calls.append(calls.select(cohort.single))
                done += len(window_sites.pos[block])
                report("genomes: joint VCF", done, total)
            slices.append(
                SampleSlice(
                    window=window_sites.window,
                    sequence=window_sites.sequence,
                    pos=window_sites.pos,
                    alleles=window_sites.alleles,
                    calls=Calls.concat(kept_calls),
                    planted=window_sites.missing is not None,
                )
            )
    if len(cohort.joint):
        index_vcf(path)
    return records, slices


def _write_single_sample_vcfs(
    delivery: Path, cohort: Cohort, slices: Sequence[SampleSlice], report: Progress
) -> list[tuple[str, str, int]]:
    """One VCF per genome with only the sites where it carries an ALT allele."""
    columns, windows, positions, lines = [], [], [], []
    for index, piece in enumerate(slices):
        column, pos, line = variant_lines(piece, gvcf=False)
        columns.append(column)
        windows.append(np.full(len(pos), index))
        positions.append(pos)
        lines.append(line)
    column, pos, window = (
        np.concatenate(columns),
        np.concatenate(positions),
        np.concatenate(windows),
    )
    order = np.lexsort((pos, window, column))
    column, line = column[order], np.concatenate(lines)[order]
    bounds = np.searchsorted(column, np.arange(len(cohort.single) + 1))
    files = []
    for j, sample in enumerate(cohort.single.tolist()):
        genome_id = cohort.genome_id[sample]
        name = f"per_sample/{genome_id}.vcf.gz"
        body = line[bounds[j] : bounds[j + 1]]
        write_bgzf_vcf(delivery / name, vcf_header([genome_id], gvcf=False), [rows_to_bytes(body)])
        files.append((name, "genotypes_single_sample", len(body)))
        report("genomes: single-sample VCFs", j + 1, len(cohort.single))
    return files


def _write_gvcfs(
    delivery: Path,
    cohort: Cohort,
    slices: Sequence[SampleSlice],
    coverage: np.ndarray,
    seed_seq: np.random.SeedSequence,
    report: Progress,
) -> list[tuple[str, str, int]]:
    """gVCFs for a few single-sample genomes: variant records plus reference blocks."""
    rng = np.random.default_rng(seed_seq)
    files = []
    for done, j in enumerate(cohort.gvcf.tolist(), start=1):
        sample = int(cohort.single[j])
        windows, positions, lines = [], [], []
        for index, piece in enumerate(slices):
            own = replace(piece, calls=piece.calls.select(np.array([j])))
            _, var_pos, var_lines = variant_lines(own, gvcf=True)
            haploid = bool(cohort.xy[sample] and piece.window.haploid_in_xy)
            block_pos, block_lines = gvcf_lines(
                own, 0, haploid=haploid, coverage=float(coverage[sample]), rng=rng
            )
            pos = np.concatenate([var_pos, block_pos])
            windows.append(np.full(len(pos), index))
            positions.append(pos)
            lines.append(np.concatenate([var_lines, block_lines]))
        order = np.lexsort((np.concatenate(positions), np.concatenate(windows)))
        body = np.concatenate(lines)[order]
        genome_id = cohort.genome_id[sample]
        name = f"per_sample/{genome_id}.g.vcf.gz"
        write_bgzf_vcf(delivery / name, vcf_header([genome_id], gvcf=True), [rows_to_bytes(body)])
        files.append((name, "genotypes_gvcf", len(body)))
        report("genomes: gVCFs", done, len(cohort.gvcf))
    return files


def _bed_name(genome_id: str) -> str:
    return f"per_sample/{genome_id}.callable.bed"


def _write_callable_beds(
    delivery: Path, cohort: Cohort, slices: Sequence[SampleSlice], report: Progress
) -> list[tuple[str, str, int]]:
    """Callable-regions BEDs for the single-sample genomes of `cohort.with_bed`."""
    files = []
    for done, j in enumerate(cohort.with_bed.tolist(), start=1):
        sample = int(cohort.single[j])
        lines = [
            callable_lines(piece, j, haploid=bool(cohort.xy[sample] and piece.window.haploid_in_xy))
            for piece in slices
        ]
        body = np.concatenate(lines)
        name = _bed_name(cohort.genome_id[sample])
        (delivery / name).write_bytes(rows_to_bytes(body))
        files.append((name, "callable_regions", len(body)))
        report("genomes: callable regions", done, len(cohort.with_bed))
    return files


def _write_sample_manifest(path: Path, cohort: Cohort) -> int:
    """genome id -> biobank sample -> person, with karyotype, the file holding the calls and
    the callable-regions BED delivered with a single-sample VCF (empty where none was), for
    the delivered genomes."""
    vcf_file = dict.fromkeys(cohort.joint.tolist(), JOINT_FILE)
    callable_bed = dict.fromkeys(cohort.delivered.tolist(), "")
    for sample in cohort.single.tolist():
        vcf_file[sample] = f"per_sample/{cohort.genome_id[sample]}.vcf.gz"
    for sample in cohort.single[cohort.with_bed].tolist():
        callable_bed[sample] = _bed_name(cohort.genome_id[sample])
    rows = [
        (
            cohort.genome_id[i],
            cohort.sample_id[i],
            cohort.cpr[i],
            cohort.karyotype[i],
            vcf_file[i],
            callable_bed[i],
        )
        for i in cohort.delivered.tolist()
    ]
    header = (*SAMPLE_COLUMNS, "vcf_file", "callable_bed")
    lines = ["\t".join(header), *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def write_genomes(
    landing: Path,
    samples: pa.Table,
    *,
    seed: int,
    cutoff: date,
    progress: Progress | None = None,
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    joint_fraction: float = 0.8,
    deliver: range | None = None,
    positions: Sequence[NamedPosition] = (),
    truth: Path | None = None,
) -> Path:
    """Write a genome delivery under `landing/genomes/` and return its folder.

    Every genome of `samples` is simulated (from `seed`); the delivery holds the rows
    `deliver` (default: all). Deliveries of one `samples` table and seed with different
    rows therefore share their reference FASTA and sites, as monthly deliveries of one
    world should. The delivery is built in a hidden sibling folder and moved into place at
    the end, so an interrupted run never leaves a half-written delivery where ingest would
    look.

    `positions` (planted.py, e.g. `load_named_positions()`) plants those variants, each in
    its own short window; the samples table may carry a nullable string column `planted`
    naming a variant key the sample carries heterozygously. With `truth`, the answer key
    `truth/genome_positions.csv` (genome_id, variant_key, genotype, covered) is written,
    merged with the rows of genomes earlier deliveries wrote there.
    """
    report: Progress = progress or (lambda _label, _done, _total: None)
    if truth is not None and not positions:
        raise ValueError("an answer key (truth) needs named positions to plant")
    world = _split_cohort(
        _read_samples(samples),
        joint_fraction,
        np.random.default_rng(np.random.SeedSequence([seed, 0])),
    )
    rows = range(samples.num_rows) if deliver is None else deliver
    if rows.step != 1 or not 0 <= rows.start < rows.stop <= samples.num_rows:
        raise ValueError(f"deliver must be a non-empty range of rows within 0..{samples.num_rows}")
    cohort = world.restrict(rows)
    windows = _check_windows(windows) if windows or not positions else ()
    delivery_id = f"genomes-{cutoff:%Y%m}"
    final = Path(landing) / "genomes" / delivery_id
    work = final.with_name(f".{delivery_id}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    coverage_seed, gvcf_seed, *window_seeds = np.random.SeedSequence([seed, 1]).spawn(
        2 + len(windows)
    )
    coverage = sample_coverage(len(cohort.genome_id), np.random.default_rng(coverage_seed))
    pairs = [s.spawn(2) for s in window_seeds]
    build_seeds = tuple(p[0] for p in pairs)
    call_seeds = tuple(p[1] for p in pairs)
    sites = []
    for done, (window, seed_seq) in enumerate(zip(windows, build_seeds, strict=True), start=1):
        sites.append(build_window(window, cohort.xy, seed_seq))
        report("genomes: simulating windows", done, len(windows))
    planting = None
    if positions:
        planted_column = (
            samples.column("planted").to_pylist()
            if "planted" in samples.column_names
            else [None] * samples.num_rows
        )
        plant_seed, plant_calls_seed = np.random.SeedSequence([seed, 2]).spawn(2)
        planting = plant(positions, planted_column, plant_seed)
        windows = _check_windows([*windows, *(s.window for s in planting.sites)])
        extra_seeds = plant_calls_seed.spawn(len(planting.sites))
        merged = sorted(
            zip([*sites, *planting.sites], [*call_seeds, *extra_seeds], strict=True),
            key=lambda pair: (CONTIG_RANK[pair[0].window.contig], pair[0].window.start),
        )
        sites = [pair[0] for pair in merged]
        call_seeds = tuple(pair[1] for pair in merged)

    contigs = _reference_contigs(sites)
    write_reference_fasta(work / REFERENCE_FILE, contigs)
    report("genomes: reference FASTA", 1, 1)
    joint_records, slices = _write_joint(
        work / JOINT_FILE, cohort, sites, coverage, call_seeds, report
    )
    files = [(REFERENCE_FILE, "reference_genome", len(contigs))]
    if len(cohort.joint):
        files.append((JOINT_FILE, "genotypes_joint", joint_records))
    if len(cohort.single):
        files += _write_single_sample_vcfs(work, cohort, slices, report)
        files += _write_gvcfs(work, cohort, slices, coverage, gvcf_seed, report)
        files += _write_callable_beds(work, cohort, slices, report)
    files.append(
        (
            SAMPLE_MANIFEST_FILE,
            "genome_samples",
            _write_sample_manifest(work / SAMPLE_MANIFEST_FILE, cohort),
        )
    )
    write_manifest(
        work,
        source=SOURCE,
        delivery_id=delivery_id,
        cutoff_date=cutoff,
        files=files,
        extra={"assembly": "GRCh38", "simulated_regions": [w.label for w in windows]},
    )
    if truth is not None and planting is not None:
        _write_position_truth(Path(truth), planting, cohort)
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    return final


def _write_position_truth(folder: Path, planting: Planting, cohort: Cohort) -> None:
    """The answer key of the named positions for the genomes this delivery holds."""
    gvcf = cohort.single[cohort.gvcf]
    bed = np.setdiff1d(cohort.single[cohort.with_bed], gvcf)
    plain = np.setdiff1d(cohort.single, np.concatenate([gvcf, bed]))
    covered = covered_cells(planting, cohort.joint, gvcf, bed, plain)
    write_truth(folder, planting, cohort.genome_id, cohort.delivered, covered)
