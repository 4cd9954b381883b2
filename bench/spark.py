"""Benchmark the Spark aggregation against the single-process recomputation, at 1, 2 and 4
Spark cores, on the bench cohort of bench/variants.py.

    python -m bench.spark [--samples 5000] [--megabases 2] [--repeats 3] [--workdir DIR]

The joint VCF of the bench cohort (about 4,000 genomes x 10,900 variants) is ingested once
into a store; then the aggregate is computed from the stored contributions by
`recompute(store)` in this process and by `spark_aggregate(store, spark)` on `local[N]`
sessions (the session started once per N and timed apart; each aggregation timed
`--repeats` times, best reported), and every result is checked equal. Throughput is
stored genotype codes (variants listed by a batch x its genomes) per core-second; the
projection to 60,000 genomes states its model and assumptions.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.variants import Cohort, simulate
from genomics_variants.contributions.remove import recompute
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest

CORES = (1, 2, 4)
GENOMES_TARGET = 60_000
BATCH_GENOMES = 4_000
SITES_PER_BATCH = 120_000_000
"""Projection assumptions: genomes arrive in joint batches of 4,000, each listing ~120 M
variants (a joint-called batch of 4,000 whole genomes; gnomAD v3's 76,000 genomes list
759 M in all)."""


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


def main(argv: list[str] | None = None) -> None:
    from genomics_variants.contributions.spark import spark_aggregate, spark_session

    parser = argparse.ArgumentParser(prog="python -m bench.spark", description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--megabases", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("java") is None:
        raise SystemExit("no Java runtime (make reference-tools installs one)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    rng = np.random.default_rng(2026)
    cohort = Cohort("bench", simulate(work / "bench", args.samples, args.megabases, rng))
    store_dir = work / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    ingest(store_dir, [cohort.joint], cohort.fasta, key=secrets.token_bytes(32),
           manifest=cohort.manifest, workers=2, min_change=1)  # fmt: skip
    store = Store(store_dir)
    expected = recompute(store)
    codes = _codes(store)
    local = _best(lambda: recompute(store), args.repeats)
    print(
        f"\nstore: {store.load().sample_count:,} genomes, {len(expected):,} variants, "
        f"{codes:,} stored codes; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  in-process recompute        {local:7.2f} s  {codes / local / 1e6:8.1f} M codes/s")
    rates = {}
    for cores in CORES:
        started = time.perf_counter()
        spark = spark_session(f"local[{cores}]", partitions=2 * cores)
        opened = time.perf_counter() - started
        result = spark_aggregate(store, spark)  # warm-up, and the check
        same = (
            result.sites.ids.tolist() == expected.sites.ids.tolist()
            and np.array_equal(result.counts, expected.counts)
            and np.array_equal(result.listed_by, expected.listed_by)
        )
        best = _best(lambda s=spark: spark_aggregate(store, s), args.repeats)
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
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
