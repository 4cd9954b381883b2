"""Benchmark variant ingest against bcftools, timed as whole commands, on two cohorts.

    python -m bench.variants [--repeats 5] [--workdir DIR] [--keep]
        [--samples 5000] [--megabases 2] [--wide-samples 2500] [--wide-megabases 4.5]

Two msprime cohorts from the synthetic genome generator (fake CPR-shaped numbers made up at
run time; 80% of the genomes of each go in the joint VCF): the bench cohort (5,000 genomes,
2 Mb of chr17 around BRCA1 plus two chrX windows: about 4,000 x 10,700 records) and a wide
one (2,500 genomes, 4.5 Mb of chr17: about 2,000 x 20,000 records). Both joint VCFs mix
FORMAT layouts (GT:GQ:DP:AD, and GATK's GT:AD:DP:GQ:PL on about one record in five).

1. Ingest as a user runs it, from process start to the release on disk, against the
   reference pipeline, each started as a command from this process on the same 2 cores:

       medfollow variants ingest joint.vcf.gz --reference ref.fa --samples manifest.tsv
           --store <new folder> --no-warehouse --min-change 1 --workers 2
       bcftools norm -m -any -f ref.fa joint.vcf.gz | bcftools +fill-tags -- -t AC,AN,AF,AC_Hom
           > out.vcf                              (one `bash -c`, as typed in a shell)

   The two alternate, `--repeats` rounds, so both meet the same load on a shared machine;
   wall-clock time and CPU time (user + system of the command and every process it
   reaped) are reported, best and median. Then every AC, AN, AF and nhomalt (= AC_Hom / 2)
   of the two is compared.
2. The cost of adding one genome to a store of 10 and of 1,000 genomes (and, apart, of
   publishing the release that follows), bench cohort, in-process.
3. Peak memory of the ingest command (its largest process's peak RSS, as GNU time reports
   it) on the bench cohort and on one four times as large: the same genomes over every
   simulated window four times as long, so four times the records. As run in 1 (publishing
   a release), and alone (`--min-change` above the genomes added: no release due, as the
   DAG's ingest tasks run, its release being a task of its own). A joint VCF's genotype
   codes are held a block at a time, so what grows with the file is only what is kept per
   variant (sites, counts and, publishing, the release): target within 1.5x of the bench
   cohort's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest, publish
from medfollow_core.pseudonymise import KEY_ENV
from synthetic_deliveries.genomes import DEFAULT_WINDOWS, Window, write_genomes

CORES = 2
LARGE_SCALE = 4  # the memory benchmark's larger cohort: this many times the records
RSS_RUNS = 3  # runs of ingest on the larger cohort (the bench cohort's are those of its race)
CUTOFF = date(2026, 3, 31)
MEDFOLLOW = Path(sys.executable).with_name("medfollow")
GNU_TIME = "/usr/bin/time"  # the launcher that reports peak RSS (timed)


def fake_samples(n: int, rng: np.random.Generator) -> pa.Table:
    """A samples table with CPR-shaped numbers (valid dates, 1900s) invented here."""
    day = rng.integers(1, 29, n)
    month = rng.integers(1, 13, n)
    year = rng.integers(0, 100, n)
    serial = rng.permutation(4000)[:n] if n <= 4000 else rng.integers(0, 4000, n)
    cpr = [
        f"{d:02d}{m:02d}{y:02d}{s:04d}" for d, m, y, s in zip(day, month, year, serial, strict=True)
    ]
    return pa.table(
        {
            "genome_id": [f"NGC{i:06d}" for i in range(n)],
            "sample_id": [f"RBGB-{i:08d}" for i in range(n)],
            "cpr": cpr,
            "karyotype": ["XY" if i % 2 else "XX" for i in range(n)],
        }
    )


def _samples_in(delivery: Path) -> int:
    lines = (delivery / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()
    return len(lines) - 1


def cohort_windows(megabases: float, scale: int = 1) -> tuple[Window, ...]:
    """The generator's windows with the chr17 one (from BRCA1's neighbourhood) widened to
    `megabases`, then each `scale` times as long: as dense in records, `scale` times as many."""
    chr17, *others = DEFAULT_WINDOWS
    length = int(megabases * 1_000_000)
    windows = (Window(chr17.contig, chr17.start, chr17.start + length - 1), *others)
    return tuple(replace(w, end=w.start + scale * w.length - 1) for w in windows)


def _simulated(delivery: Path) -> tuple[int, list[str]]:
    """(samples, simulated regions) of an existing delivery, to reuse it when they match."""
    manifest = json.loads((delivery / "manifest.json").read_text(encoding="utf-8"))
    return _samples_in(delivery), list(manifest.get("simulated_regions", []))


@dataclass(frozen=True)
class Cohort:
    """A simulated delivery and what the benchmark needs of it."""

    name: str
    delivery: Path

    @property
    def joint(self) -> Path:
        return self.delivery / "joint" / "cohort.vcf.gz"

    @property
    def fasta(self) -> Path:
        return self.delivery / "reference" / "GRCh38_subset.fa.gz"

    @property
    def manifest(self) -> Path:
        return self.delivery / "sample_manifest.tsv"


def simulate(
    folder: Path, samples: int, megabases: float, rng: np.random.Generator, scale: int = 1
) -> Path:
    """The delivery of `samples` genomes over `megabases` of chr17 and the chrX windows, all
    `scale` times as long (reused when it exists)."""
    delivery = folder / "landing" / "genomes" / f"genomes-{CUTOFF:%Y%m}"
    windows = cohort_windows(megabases, scale)
    wanted = (samples, [w.label for w in windows])
    if not (delivery / "manifest.json").exists() or _simulated(delivery) != wanted:
        print(f"simulating {samples:,} genomes (msprime) in {folder} ...", flush=True)
        write_genomes(
            folder / "landing", fake_samples(samples, rng), seed=7, cutoff=CUTOFF, windows=windows
        )
    return delivery


def _output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def shape(cohort: Cohort) -> tuple[int, int]:
    """(genomes, records) of the joint VCF."""
    samples = len(_output(["bcftools", "query", "-l", str(cohort.joint)]).split())
    return samples, int(_output(["bcftools", "index", "-n", str(cohort.joint)]))


def describe(cohort: Cohort) -> str:
    """Genomes x records, size and FORMAT layouts (records of each) of the joint VCF."""
    samples, records = shape(cohort)
    layouts = _output(
        [
            "bash",
            "-c",
            f"set -o pipefail; gzip -dc {shlex.quote(str(cohort.joint))} | grep -v '^#' "
            "| cut -f9 | sort | uniq -c | sort -rn",
        ]
    ).split("\n")
    shapes = ", ".join(
        f"{fmt} {int(n):,}" for n, fmt in (line.split() for line in layouts if line.strip())
    )
    size = cohort.joint.stat().st_size / 1e6
    return f"{samples:,} genomes x {records:,} records, {size:,.0f} MB; FORMAT {shapes}"


@dataclass(frozen=True)
class Run:
    """One command's wall-clock and CPU seconds, and its peak resident set (bytes)."""

    wall: float
    cpu: float
    peak_rss: int


def timed(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall-clock and CPU seconds of one command, from its start to its exit, and its peak RSS.

    CPU is user + system time of the command and of every descendant reaped before it
    exited (the reader processes of our ingest, both stages of the bcftools pipeline); the
    peak RSS is the largest any one of them reached, as GNU time reports it. GNU time is the
    launcher because it forks the command from its own small process: a command started
    straight from this one (vfork, then exec) inherits this process's peak RSS as its own
    floor (Linux folds the parent's high-water mark into the child's at exec), which made
    every figure after the cohort simulations read 1.5-4.8 GB.
    """
    with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile("r") as report:
        launched = [GNU_TIME, "-f", "%M", "-o", report.name, *command]
        start = time.perf_counter()
        process = subprocess.Popen(launched, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(process.pid, 0)  # this command's usage, not all children's
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"{shlex.join(command)} failed:\n{errors.read().decode()[-2000:]}")
        peak_kb = int(report.read().split()[-1])
    return Run(wall, usage.ru_utime + usage.ru_stime, peak_kb * 1024)


def bcftools_command(cohort: Cohort, out: Path) -> list[str]:
    """norm | +fill-tags, as a shell runs it (VCF text between the stages)."""
    norm = shlex.join(
        ["bcftools", "norm", "-m", "-any", "-f", str(cohort.fasta), str(cohort.joint)]
    )
    tags = shlex.join(["bcftools", "+fill-tags", "--", "-t", "AC,AN,AF,AC_Hom"])
    return ["bash", "-c", f"set -o pipefail; {norm} 2>/dev/null | {tags} > {shlex.quote(str(out))}"]


def medfollow_command(cohort: Cohort, store: Path, min_change: int = 1) -> list[str]:
    """Our ingest, as a user types it (no warehouse: opt-outs and regions are another cost);
    it publishes a release if `min_change` genomes or more are added."""
    return [
        str(MEDFOLLOW),
        "variants",
        "ingest",
        str(cohort.joint),
        "--reference",
        str(cohort.fasta),
        "--samples",
        str(cohort.manifest),
        "--store",
        str(store),
        "--no-warehouse",
        "--min-change",
        str(min_change),
        "--workers",
        str(CORES),
    ]


@dataclass(frozen=True)
class Race:
    """Wall-clock and CPU seconds of each run of both commands, and the comparison."""

    bcftools: list[Run]
    ours: list[Run]
    compared: int
    mismatches: int

    @staticmethod
    def _summary(runs: list[Run]) -> str:
        walls, cpus = [r.wall for r in runs], [r.cpu for r in runs]
        return (
            f"{min(walls):.2f} s wall best, {statistics.median(walls):.2f} median "
            f"({', '.join(f'{w:.2f}' for w in walls)}); {min(cpus):.2f} s CPU best, "
            f"{statistics.median(cpus):.2f} median"
        )

    def rows(self) -> list[tuple[str, str]]:
        b_wall, o_wall = [r.wall for r in self.bcftools], [r.wall for r in self.ours]
        b_cpu, o_cpu = [r.cpu for r in self.bcftools], [r.cpu for r in self.ours]
        return [
            ("bcftools norm | +fill-tags", self._summary(self.bcftools)),
            ("medfollow variants ingest", self._summary(self.ours)),
            (
                "speed-up (target >= 2x wall)",
                f"{min(b_wall) / min(o_wall):.2f}x wall best/best, "
                f"{statistics.median(b_wall) / statistics.median(o_wall):.2f}x median/median; "
                f"{min(b_cpu) / min(o_cpu):.2f}x CPU",
            ),
            ("AC/AN/AF/nhomalt compared", f"{self.compared:,} variants, {self.mismatches} differ"),
        ]

    @property
    def ratio(self) -> float:
        return min(r.wall for r in self.bcftools) / min(r.wall for r in self.ours)


def race(cohort: Cohort, work: Path, repeats: int, key: bytes) -> Race:
    """Both commands, alternating, `repeats` times each; then the counts compared."""
    env = _environment(key)
    out = work / f"bcftools-{cohort.name}.vcf"
    bcftools, ours = [], []
    store = work / f"store-{cohort.name}"
    for _ in range(repeats):
        bcftools.append(timed(bcftools_command(cohort, out)))
        shutil.rmtree(store, ignore_errors=True)
        ours.append(timed(medfollow_command(cohort, store), env))
    release = next((store / "releases").glob("r*/frequencies.parquet"))
    compared, mismatches = compare(out, release)
    return Race(bcftools, ours, compared, mismatches)


def _environment(key: bytes) -> dict[str, str]:
    """Our commands' environment: the pseudonymisation key (synthetic people: a throw-away)."""
    return {**os.environ, KEY_ENV: key.hex()}


@dataclass(frozen=True)
class Footprint:
    """Peak RSS of our ingest runs on the bench cohort and on the larger one."""

    label: str
    bench: tuple[int, int]  # (genomes, records)
    large: tuple[int, int]
    bench_runs: list[Run]
    large_runs: list[Run]

    @staticmethod
    def _peak(shape: tuple[int, int], runs: list[Run]) -> str:
        peaks = [r.peak_rss / 1e6 for r in runs]
        return (
            f"{shape[0]:,} genomes x {shape[1]:,} records: {statistics.median(peaks):.0f} MB "
            f"median ({', '.join(f'{p:.0f}' for p in peaks)}); "
            f"{statistics.median(r.wall for r in runs):.1f} s wall median"
        )

    def rows(self) -> list[tuple[str, str]]:
        bench = statistics.median(r.peak_rss for r in self.bench_runs)
        large = statistics.median(r.peak_rss for r in self.large_runs)
        return [
            (f"{self.label}, bench cohort", self._peak(self.bench, self.bench_runs)),
            (f"{self.label}, {LARGE_SCALE}x larger", self._peak(self.large, self.large_runs)),
            (
                f"{self.label}, larger / bench (target <= 1.5x)",
                f"{self.large[1] / self.bench[1]:.2f}x records, {large / bench:.2f}x peak RSS",
            ),
        ]


def footprints(bench: Cohort, large: Cohort, race: Race, work: Path, key: bytes) -> list[Footprint]:
    """Peak RSS of ingest publishing a release (the bench cohort's runs are its race's) and
    of ingest alone, no release due."""
    shapes = shape(bench), shape(large)
    alone = 10 * max(shapes[0][0], shapes[1][0])  # more genomes than added: no release

    def runs(cohort: Cohort, min_change: int) -> list[Run]:
        store, out = work / f"store-{cohort.name}", []
        for _ in range(RSS_RUNS):
            shutil.rmtree(store, ignore_errors=True)
            out.append(timed(medfollow_command(cohort, store, min_change), _environment(key)))
        shutil.rmtree(store, ignore_errors=True)
        return out

    return [
        Footprint("with its release", *shapes, race.ours, runs(large, 1)),
        Footprint("ingest alone", *shapes, runs(bench, alone), runs(large, alone)),
    ]


def compare(bcftools_vcf: Path, release: Path) -> tuple[int, int]:
    """(variants compared, mismatches) between bcftools' tags and our raw counts."""
    query = subprocess.run(
        [
            "bcftools",
            "query",
            "-f",
            "%CHROM-%POS-%REF-%ALT\t%AC\t%AN\t%AF\t%AC_Hom\n",
            str(bcftools_vcf),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    table = pq.read_table(
        release, columns=["variant_id", "ac_raw", "an_raw", "af_raw", "nhomalt_raw"]
    )
    ours = {row["variant_id"]: row for row in table.to_pylist()}
    compared = mismatches = 0
    for line in query:
        variant, ac, an, af, hom = line.split("\t")
        if variant.endswith("-*") or int(ac) == 0:
            mismatches += variant in ours
            continue
        row = ours.get(variant)
        compared += 1
        if (
            row is None
            or (row["ac_raw"], row["an_raw"], row["nhomalt_raw"])
            != (int(ac), int(an), int(hom) // 2)
            or not math.isclose(row["af_raw"], float(af), rel_tol=1e-5)
        ):
            mismatches += 1
    mismatches += len(ours) - compared
    return compared, mismatches


def subset_vcf(joint: Path, samples: list[str], out: Path) -> Path:
    """A joint VCF of some samples only, sites they do not carry dropped (as if called alone)."""
    subprocess.run(
        [
            "bcftools",
            "view",
            "--threads",
            "2",
            "-s",
            ",".join(samples),
            "-a",
            "-c",
            "1",
            "-Oz",
            "-o",
            str(out),
            str(joint),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(["bcftools", "index", "-t", str(out)], check=True, capture_output=True)
    return out


def add_one_genome(
    base: Path, genome: Path, fasta: Path, manifest: Path, key: bytes, work: Path, repeats: int
) -> tuple[float, float]:
    """Median (add, publish) seconds of adding one genome to a copy of the store at `base`.

    Adding (read the genome, store its contributions, update the aggregate) is what should
    cost the same whatever the store holds. Publishing writes a complete release of every
    variant, so it grows with the database by design and is timed apart (the DAG publishes
    once per run, after all new genomes, not once per genome).
    """
    adds, publishes = [], []
    for i in range(repeats):
        store = work / f"add-{i}"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(base, store)
        start = time.perf_counter()
        result = ingest_files(
            Store(store), [genome], fasta, key=key, manifest=manifest, workers=CORES
        )
        adds.append(time.perf_counter() - start)
        assert result.added == 1
        start = time.perf_counter()
        publish(Store(store), result.state, min_change=1)  # the cost of writing a release
        publishes.append(time.perf_counter() - start)
        shutil.rmtree(store)
    return statistics.median(adds), statistics.median(publishes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.variants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--samples", type=int, default=5000, help="bench cohort size (default 5000)"
    )
    parser.add_argument(
        "--megabases",
        type=float,
        default=2.0,
        help="bench cohort: simulated chr17 stretch (default 2; 25 is the whole p arm)",
    )
    parser.add_argument(
        "--wide-samples", type=int, default=2500, help="wide cohort size (default 2500)"
    )
    parser.add_argument(
        "--wide-megabases",
        type=float,
        default=4.5,
        help="wide cohort: simulated chr17 stretch (default 4.5)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each command (default 5)"
    )
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if shutil.which("bcftools") is None:
        raise SystemExit("bcftools is not installed (make reference-tools)")
    if not Path(GNU_TIME).exists():
        raise SystemExit(f"{GNU_TIME} (GNU time) is not installed (make reference-tools)")
    if not MEDFOLLOW.exists():
        raise SystemExit(f"{MEDFOLLOW} not found: run from the project's virtual environment")
    if args.samples < 1200:
        raise SystemExit(
            "--samples must be at least 1200 (stores of 10 and 1,000 are built from it)"
        )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-variants-"))
    work.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)  # synthetic people: a throw-away pseudonymisation key
    rng = np.random.default_rng(2026)
    try:
        cohorts = [
            Cohort("bench", simulate(work / "bench", args.samples, args.megabases, rng)),
            Cohort("wide", simulate(work / "wide", args.wide_samples, args.wide_megabases, rng)),
        ]
        races = {}
        for number, cohort in enumerate(cohorts, start=1):
            print(f"1.{number} ingest vs bcftools, {cohort.name} cohort ...", flush=True)
            races[cohort.name] = race(cohort, work, args.repeats, key)

        print("2 adding one genome to 10 and 1,000 genomes ...", flush=True)
        bench = cohorts[0]
        joint_samples = _output(["bcftools", "query", "-l", str(bench.joint)]).split()
        genome = next(
            p
            for p in sorted((bench.delivery / "per_sample").glob("*.vcf.gz"))
            if ".g." not in p.name
        )
        add, publishing = {}, {}
        for size in (10, 1_000):
            subset = subset_vcf(bench.joint, joint_samples[:size], work / f"joint-{size}.vcf.gz")
            base = work / f"base-{size}"
            shutil.rmtree(base, ignore_errors=True)
            ingest(base, [subset], bench.fasta, key=key, manifest=bench.manifest, workers=CORES)
            add[size], publishing[size] = add_one_genome(
                base, genome, bench.fasta, bench.manifest, key, work, max(args.repeats, 7)
            )
        print(f"3 peak RSS of ingest, bench cohort and {LARGE_SCALE}x larger ...", flush=True)
        large = Cohort(
            "large",
            simulate(work / "large", args.samples, args.megabases, rng, scale=LARGE_SCALE),
        )
        memory = footprints(bench, large, races["bench"], work, key)

        print(
            f"\nvariant frequencies benchmark ({os.cpu_count()} CPUs visible, {CORES} used; "
            f"{args.repeats} alternating runs of each command)"
        )
        for cohort in cohorts:
            rows = [("joint VCF", describe(cohort)), *races[cohort.name].rows()]
            _print_rows(f"ingest, {cohort.name} cohort (whole commands)", rows)
        _print_rows(
            "adding one genome (in-process)",
            [
                (
                    "add one genome to 10",
                    f"{add[10] * 1000:.0f} ms (then publishing a release: "
                    f"{publishing[10] * 1000:.0f} ms)",
                ),
                (
                    "add one genome to 1,000",
                    f"{add[1_000] * 1000:.0f} ms (then publishing a release: "
                    f"{publishing[1_000] * 1000:.0f} ms)",
                ),
                ("ratio 1,000 / 10 (target <= 1.5)", f"{add[1_000] / add[10]:.2f}"),
                (
                    "load average at the end",
                    f"{os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)",
                ),
            ],
        )
        _print_rows(
            "peak memory of ingest (whole command, its largest process)",
            [row for footprint in memory for row in footprint.rows()],
        )
        if any(r.mismatches for r in races.values()):
            raise SystemExit("counts differ from bcftools")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _print_rows(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
