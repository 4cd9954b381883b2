"""Benchmark the Spark aggregation against the single-process recomputation, at 1, 2 and 4
Spark cores, on the bench cohort of bench/variants.py; and adding and removing genomes in a
store of 5,000 with Spark.

    python -m bench.spark [--samples 5000] [--megabases 2] [--repeats 3] [--workdir DIR]
        [--store-genomes 5000] [--release-variants 2000000] [--coverage-genomes 200]
        [--only aggregate|changes|release|coverage]

1. The joint VCF of the bench cohort (about 4,000 genomes x 10,900 variants) is ingested
   once into a store; then the aggregate is computed from the stored contributions by
   `recompute(store)` in this process and by `spark_aggregate(store, spark, into)` (which
   writes its chunk files into a folder of its own) on `local[N]` sessions (the session started once per N and timed apart; each aggregation timed
   `--repeats` times, best reported), and every result is checked equal, chunk by chunk. Throughput is
   stored genotype codes (variants listed by a batch x its genomes) per core-second; the
   projection to 60,000 genomes states its model and assumptions.
2. Changes in a store of `--store-genomes` (5,000) genomes: a cohort of 1.25 times as many
   is simulated (its joint VCF holds 80 %, the store; the rest are single-sample VCFs), and
   on copies of the store, on `local[2]` and in process alternately, `--repeats` times
   each, best reported: add 1 genome (a VCF with callable regions: its blocks reach every
   variant), add 100 (single-sample VCFs), remove 1 and remove 100 jointly called genomes
   (the 5,000-genome batch rewritten without them). Each is the whole library call
   (`ingest_files` reading the VCFs, writing the batch, counting; `remove_persons`
   rewriting and counting), no release; each Spark result is checked equal to the
   in-process one. The simulation (about 5 minutes) is kept in `--workdir` and reused.
3. A release of `--release-variants` (2 M) variants spread over the genome (1 Mb chunks of
   the working aggregate; counts drawn directly, not through VCFs) written in parts of
   262,144 variants by this process and by Spark's executors on `local[1]` and `local[2]`,
   best of `--repeats`; every Spark release is checked equal to the in-process one, file
   by file. And the peak RSS of a fresh process writing it in parts, against one holding
   the whole table as releases were written before (GNU time, as bench/variants.py).
4. The coverage table of a release (AN at every callable site) from `--coverage-genomes`
   (200) gVCFs' reference blocks written directly (GQ-banded: a block every ~1 kb on
   average, 50 Mb over chr1-chr5, so 50,000 blocks a genome; sex and region drawn), by
   this process and by Spark's executors on `local[1]` and `local[2]`, best of
   `--repeats`; every Spark table is checked equal to the in-process one, file by file,
   and the peak RSS of a fresh process writing it is reported.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.variants import Cohort, simulate, timed
from genomics_variants.contributions.chunks import Chunks, digests_of
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.remove import recompute, remove_persons
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest
from medfollow_core.pseudonymise import Pseudonymiser

CORES = (1, 2, 4)
GENOMES_TARGET = 60_000
BATCH_GENOMES = 4_000
SITES_PER_BATCH = 120_000_000
"""Projection assumptions: genomes arrive in joint batches of 4,000, each listing ~120 M
variants (a joint-called batch of 4,000 whole genomes; gnomAD v3's 76,000 genomes list
759 M in all)."""
JOINT_FRACTION = 0.8  # of a simulated cohort, in its joint VCF (synthetic_deliveries)
CHANGE_CORES = 2  # this machine's


def _codes(store: Store) -> int:
    """Stored genotype codes: per batch, variants it lists x genomes it holds."""
    state = store.load()
    held = {}
    for batch_id in state.samples.column("batch_id").to_pylist():
        held[batch_id] = held.get(batch_id, 0) + 1
    return sum(len(store.batch_sites(b)) * n for b, n in held.items())


def _best(run, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _fresh(store: Store, spark: Any, work: Path) -> Chunks:
    """spark_aggregate into a folder emptied first."""
    from genomics_variants.contributions.spark import spark_aggregate

    into = work / "spark-aggregate"
    shutil.rmtree(into, ignore_errors=True)
    return spark_aggregate(store, spark, into)


def aggregation(work: Path, samples: int, megabases: float, repeats: int) -> None:
    """Part 1: recompute the bench store's aggregate in process and on Spark."""
    from genomics_variants.contributions.spark import spark_session

    rng = np.random.default_rng(2026)
    cohort = Cohort("bench", simulate(work / "bench", samples, megabases, rng))
    store_dir = work / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    ingest(store_dir, [cohort.joint], cohort.fasta, key=secrets.token_bytes(32),
           manifest=cohort.manifest, workers=2, min_change=1)  # fmt: skip
    store = Store(store_dir)
    expected = digests_of(recompute(store), store.chunk_bits)
    codes = _codes(store)
    local = _best(lambda: recompute(store), repeats)
    print(
        f"\nstore: {store.load().sample_count:,} genomes, {len(store.load().chunks):,} variants, "
        f"{codes:,} stored codes; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  in-process recompute        {local:7.2f} s  {codes / local / 1e6:8.1f} M codes/s")
    rates = {}
    for cores in CORES:
        started = time.perf_counter()
        spark = spark_session(f"local[{cores}]", partitions=2 * cores)
        opened = time.perf_counter() - started
        same = _fresh(store, spark, work).digests == expected  # warm-up, and the check
        best = _best(lambda s=spark: _fresh(store, s, work), repeats)
        spark.stop()
        rates[cores] = codes / best / cores
        print(
            f"  Spark local[{cores}]              {best:7.2f} s  "
            f"{codes / best / 1e6:8.1f} M codes/s, {rates[cores] / 1e6:6.1f} M per core-second "
            f"(session start {opened:.1f} s; equal to recompute: {same})"
        )
    per_core = statistics.median(rates.values())
    batches = GENOMES_TARGET // BATCH_GENOMES
    total = batches * BATCH_GENOMES * SITES_PER_BATCH
    print(
        f"\nprojection (model: time = stored codes / (per-core rate x cores); rate "
        f"{per_core / 1e6:.1f} M codes per core-second, the median above; {batches} joint "
        f"batches of {BATCH_GENOMES:,} genomes x {SITES_PER_BATCH / 1e6:.0f} M variants = "
        f"{total:.2e} codes; no gVCF blocks, shuffle and I/O scaling linearly)"
    )
    for executors, cores in ((10, 8), (50, 8), (100, 16)):
        hours = total / (per_core * executors * cores) / 3600
        print(f"  {executors} executors x {cores} cores: {hours:8.1f} h")


@dataclass(frozen=True)
class Change:
    """A change to a store, applied with a Spark session or (None) in process."""

    name: str
    apply: Callable[[Store, Any], object]


def _changes(cohort: Cohort, key: bytes, joint: list[str]) -> list[Change]:
    """Add 1 and 100 single-sample genomes; remove 1 and 100 jointly called ones (spread
    over the batch's row groups)."""
    singles = sorted(
        p for p in (cohort.delivery / "per_sample").glob("*.vcf.gz") if ".g." not in p.name
    )
    bed = next(
        p for p in singles if p.with_name(p.name.replace(".vcf.gz", ".callable.bed")).exists()
    )
    others = [p for p in singles if p != bed][:100]
    lines = cohort.manifest.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    cpr = {r[0]: r[header.index("cpr")] for r in (line.split("\t") for line in lines[1:])}
    person = Pseudonymiser(key).one

    def adding(files: list[Path]) -> Callable[[Store, Any], object]:
        return lambda store, spark: ingest_files(
            store, files, cohort.fasta, key=key, manifest=cohort.manifest, workers=2, spark=spark
        )

    def removing(genomes: list[str]) -> Callable[[Store, Any], object]:
        persons = [person(cpr[g]) for g in genomes]
        return lambda store, spark: remove_persons(store, persons, spark=spark)

    return [
        Change("add 1 genome (VCF + callable regions)", adding([bed])),
        Change("add 100 genomes (single-sample VCFs)", adding(others)),
        Change("remove 1 jointly called genome", removing(joint[:1])),
        Change("remove 100 jointly called genomes", removing(joint[:: len(joint) // 100][:100])),
    ]


def _timed(
    base: Path, work: Path, change: Change, spark: Any, repeats: int
) -> tuple[float, float, bool]:
    """(best Spark seconds, best in-process seconds, every Spark result equal) of a change
    applied to fresh copies of the store at `base`, the two engines alternating."""
    times: dict[bool, list[float]] = {True: [], False: []}
    same = True
    for _ in range(repeats):
        results = {}
        for on_spark in (True, False):
            copy = work / "change"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(base, copy)
            started = time.perf_counter()
            change.apply(Store(copy), spark if on_spark else None)
            times[on_spark].append(time.perf_counter() - started)
            results[on_spark] = Store(copy).load().chunks.digests
        same = same and results[True] == results[False]
    shutil.rmtree(work / "change", ignore_errors=True)
    return min(times[True]), min(times[False]), same


def changes(work: Path, genomes: int, megabases: float, repeats: int) -> bool:
    """Part 2: add and remove 1 and 100 genomes in a store of `genomes`; True if every
    Spark result equals the in-process one."""
    from genomics_variants.contributions.spark import spark_session

    samples = round(genomes / JOINT_FRACTION)
    rng = np.random.default_rng(2026)
    cohort = Cohort("changes", simulate(work / "changes", samples, megabases, rng))
    key = secrets.token_bytes(32)  # synthetic people: a throw-away pseudonymisation key
    base = work / "changes-store"
    shutil.rmtree(base, ignore_errors=True)
    ingest_files(Store(base), [cohort.joint], cohort.fasta, key=key, manifest=cohort.manifest,
                 workers=2)  # fmt: skip
    state = Store(base).load()
    joint = state.samples.column("genome_id").to_pylist()
    started = time.perf_counter()
    spark = spark_session(f"local[{CHANGE_CORES}]", partitions=2 * CHANGE_CORES)
    opened = time.perf_counter() - started
    print(
        f"\nchanges in a store of {state.sample_count:,} genomes x {len(state.chunks):,} "
        f"variants (one joint batch), Spark local[{CHANGE_CORES}] (session start "
        f"{opened:.1f} s) vs in process, best of {repeats}; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    equal = True
    for change in _changes(cohort, key, joint):
        on_spark, local, same = _timed(base, work, change, spark, repeats)
        equal = equal and same
        print(
            f"  {change.name:<40} Spark {on_spark:6.2f} s   in process {local:6.2f} s   "
            f"equal: {same}"
        )
    spark.stop()
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")
    return equal


RELEASE_PART_VARIANTS = 1 << 18


def _synthetic_store(root: Path, variants: int) -> Store:
    """A store whose aggregate (no genomes behind it) holds `variants` drawn over the
    autosomes: each variant's counts per cell are a drawn genotype code's row of the
    look-up table times a drawn number of genomes, so every field is consistent."""
    from genomics_variants.contributions.aggregate import Aggregate
    from genomics_variants.contributions.cells import N_CELLS
    from genomics_variants.contributions.measures import LUT
    from genomics_variants.contributions.store import BATCHES_SCHEMA, SAMPLES_SCHEMA, State
    from genomics_variants.sites import Sites

    rng = np.random.default_rng(2026)
    chroms = np.array([f"chr{i}" for i in range(1, 23)])
    sites = Sites.build(
        chroms[rng.integers(0, 22, variants)],
        rng.integers(1, 200_000_000, variants),
        ["A"] * variants,
        ["G"] * variants,
    )
    sites = sites.take(sites.genome_order())
    codes = rng.choice(np.array([0b001011, 0b011011, 0b101011], np.uint8), (variants, N_CELLS))
    counts = (LUT[codes] * rng.integers(1, 50, (variants, N_CELLS, 1))).astype(np.int32)
    store = Store(root)
    with store.writer():
        store.commit(
            State(
                1,
                SAMPLES_SCHEMA.empty_table(),
                BATCHES_SCHEMA.empty_table(),
                Aggregate(sites, np.ones(variants, np.int32), counts),
            )
        )
    return store


def release_once(root: str, whole: bool) -> None:
    """Write a release of the store at `root` in parts (or, `whole`, from the whole table in
    memory, as releases were written before): run in a fresh process for its peak RSS."""
    import pyarrow.parquet as pq

    from genomics_variants.frequencies.release import ROW_GROUP, frequency_table, write_release
    from genomics_variants.frequencies.served import write_table
    from genomics_variants.frequencies.strata import RATIO_COLUMNS

    store = Store(Path(root))
    with store.writer():
        if not whole:
            write_release(store, store.load())
            return
        table = frequency_table(store.load())
        out = Path(tempfile.mkdtemp(dir=root))
        pq.write_table(
            table, out / "frequencies.parquet", compression="zstd", row_group_size=ROW_GROUP
        )
        write_table(out / "served", "frequencies", table, "chrom", "pos", ratios=RATIO_COLUMNS)


def releases(work: Path, variants: int, repeats: int) -> bool:
    """Part 3: a release written in parts by this process and by Spark's executors; True if
    every Spark release equals the in-process one, file by file."""
    from genomics_variants.frequencies.release import RELEASE_FILE, write_release

    root = work / "release-store"
    shutil.rmtree(root, ignore_errors=True)
    store = _synthetic_store(root, variants)
    chunks = len(store.load().chunks.files)

    def once(spark: Any) -> tuple[float, dict[str, bytes]]:
        shutil.rmtree(store.releases_dir, ignore_errors=True)
        with store.writer():
            started = time.perf_counter()
            made = write_release(
                store, store.load(), spark=spark, part_variants=RELEASE_PART_VARIANTS
            )
            took = time.perf_counter() - started
        files = {
            str(p.relative_to(made.folder)): p.read_bytes()
            for p in sorted(made.folder.rglob("*"))
            if p.is_file() and p.name != RELEASE_FILE
        }
        return took, files

    local = [once(None) for _ in range(repeats)]
    peaks = {}
    for whole in (False, True):
        code = f"from bench.spark import release_once; release_once({str(root)!r}, {whole})"
        peaks[whole] = timed([sys.executable, "-c", code], dict(os.environ)).peak_rss
    print(
        f"\nrelease of {variants:,} variants ({chunks:,} chunks, parts of "
        f"{RELEASE_PART_VARIANTS:,}); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  in process                  {min(t for t, _ in local):7.2f} s")
    print(
        f"  peak RSS of a fresh process writing it: in parts {peaks[False] / 2**20:,.0f} MB, "
        f"from the whole table {peaks[True] / 2**20:,.0f} MB"
    )
    equal = _on_spark(once, local[0][1], repeats, "release")
    shutil.rmtree(root, ignore_errors=True)
    return equal


COVERAGE_CONTIGS = ("chr1", "chr2", "chr3", "chr4", "chr5")
COVERAGE_SPAN = 10_000_000  # bases of each contig covered


def _coverage_store(root: Path, genomes: int) -> tuple[Store, Any]:
    """A store holding only `genomes` gVCFs' blocks files (no counts) and a state naming
    them: what the coverage table is made from."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genomics_variants.contributions.cells import N_CELLS
    from genomics_variants.contributions.store import BATCHES_SCHEMA, SAMPLES_SCHEMA
    from genomics_variants.vcf.genotypes import ADJ, PLOIDY_SHIFT

    rng = np.random.default_rng(7)
    store = Store(root)
    samples, batches = [], []
    for g in range(genomes):
        batch_id = f"gvcf{g:05d}"
        chrom, start, end = [], [], []
        for name in COVERAGE_CONTIGS:
            lengths = rng.geometric(1 / 1000, COVERAGE_SPAN // 1000)
            gaps = rng.integers(0, 2, len(lengths)) * rng.integers(1, 50, len(lengths))
            starts = 1 + np.cumsum(lengths + gaps) - (lengths + gaps)
            inside = starts + lengths - 1 <= COVERAGE_SPAN
            chrom.append(np.full(int(inside.sum()), name))
            start.append(starts[inside])
            end.append((starts + lengths - 1)[inside])
        n = sum(len(s) for s in start)
        passing = np.where(rng.random(n) < 0.95, ADJ, 0)
        code = ((2 << PLOIDY_SHIFT) | passing).astype(np.uint8)
        store.blocks_file(batch_id).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "chrom": pa.array(np.concatenate(chrom), pa.string()),
                    "start": pa.array(np.concatenate(start), pa.int64()),
                    "end": pa.array(np.concatenate(end), pa.int64()),
                    "code": pa.array(code, pa.uint8()),
                }
            ),
            store.blocks_file(batch_id),
        )
        batches.append({"batch_id": batch_id, "kind": "gvcf", "file_name": f"{batch_id}.g.vcf"})
        cell = int(rng.integers(0, N_CELLS))
        samples.append({"genome_id": batch_id, "batch_id": batch_id, "cell": cell})
    pq.write_table(pa.Table.from_pylist(samples, SAMPLES_SCHEMA), root / "samples.parquet")
    pq.write_table(pa.Table.from_pylist(batches, BATCHES_SCHEMA), root / "batches.parquet")
    return store, _coverage_state(root)


def _coverage_state(root: Path) -> Any:
    """The state naming the bench store's gVCFs (_coverage_store)."""
    import pyarrow.parquet as pq

    from genomics_variants.contributions.aggregate import Aggregate
    from genomics_variants.contributions.store import State

    samples, batches = (pq.read_table(root / f"{t}.parquet") for t in ("samples", "batches"))
    return State(1, samples, batches, Aggregate.empty())


def coverage_once(root: str) -> None:
    """Write the coverage parts of the bench store at `root` in a fresh process (peak RSS)."""
    from genomics_variants.frequencies.coverage import write_coverage_parts

    store, state = Store(Path(root)), _coverage_state(Path(root))
    out = Path(tempfile.mkdtemp(dir=root))
    write_coverage_parts(store, state, out, 64)


def coverage(work: Path, genomes: int, repeats: int) -> bool:
    """Part 4: the coverage table in this process and on Spark's executors; True if every
    Spark table equals the in-process one, file by file."""
    from genomics_variants.frequencies.coverage import write_coverage_parts
    from genomics_variants.frequencies.spark_coverage import write_coverage_parts_on_spark

    root = work / "coverage-store"
    shutil.rmtree(root, ignore_errors=True)
    store, state = _coverage_store(root, genomes)
    blocks = sum(
        pq_rows(store.blocks_file(b)) for b in state.batches.column("batch_id").to_pylist()
    )

    def once(spark: Any) -> tuple[float, dict[str, bytes]]:
        out = root / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        started = time.perf_counter()
        if spark is None:
            write_coverage_parts(store, state, out, 64)
        else:
            write_coverage_parts_on_spark(spark, store, state, out, 64)
        took = time.perf_counter() - started
        files = {
            str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
        }
        return took, files

    local = [once(None) for _ in range(repeats)]
    parts = [name for name in local[0][1] if name.endswith(".parquet")]
    rows = sum(pq_rows(root / "out" / name) for name in parts)
    code = f"from bench.spark import coverage_once; coverage_once({str(root)!r})"
    peak = timed([sys.executable, "-c", code], dict(os.environ)).peak_rss
    print(
        f"\ncoverage of {genomes:,} gVCFs, {blocks:,} blocks over "
        f"{len(COVERAGE_CONTIGS) * COVERAGE_SPAN / 1e6:.0f} Mb: {rows:,} intervals in "
        f"{len(parts):,} parts; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  in process                  {min(t for t, _ in local):7.2f} s")
    print(f"  peak RSS of a fresh process writing it: {peak / 2**20:,.0f} MB")
    equal = _on_spark(once, local[0][1], repeats, "table")
    shutil.rmtree(root, ignore_errors=True)
    return equal


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _on_spark(
    once: Callable[[Any], tuple[float, dict[str, bytes]]],
    expected: dict[str, bytes],
    repeats: int,
    what: str,
) -> bool:
    """Time `once` on local[1] and local[2] sessions (best of `repeats`) and print it; True
    if every run wrote `expected`, file by file."""
    from genomics_variants.contributions.spark import spark_session

    equal = True
    for cores in (1, 2):
        spark = spark_session(f"local[{cores}]", partitions=2 * cores)
        runs = [once(spark) for _ in range(repeats)]
        spark.stop()
        same = all(files == expected for _, files in runs)
        equal = equal and same
        print(
            f"  Spark local[{cores}]              {min(t for t, _ in runs):7.2f} s  "
            f"(equal to the in-process {what}, file by file: {same})"
        )
    return equal


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spark", description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--megabases", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--store-genomes", type=int, default=5000)
    parser.add_argument("--release-variants", type=int, default=2_000_000)
    parser.add_argument("--coverage-genomes", type=int, default=200)
    parser.add_argument("--only", choices=("aggregate", "changes", "release", "coverage"))
    args = parser.parse_args(argv)
    if shutil.which("java") is None:
        raise SystemExit("no Java runtime (make reference-tools installs one)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    equal = True
    try:
        if args.only in (None, "aggregate"):
            aggregation(work, args.samples, args.megabases, args.repeats)
        if args.only in (None, "changes"):
            equal = changes(work, args.store_genomes, args.megabases, args.repeats)
        if args.only in (None, "release"):
            equal = releases(work, args.release_variants, args.repeats) and equal
        if args.only in (None, "coverage"):
            equal = coverage(work, args.coverage_genomes, args.repeats) and equal
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if not equal:
        raise SystemExit("a change or release on Spark differs from the in-process one")


if __name__ == "__main__":
    main()
