"""Benchmark the variant-frequency database against bcftools, and its API latency.

    python -m bench.variants [--samples 5000] [--megabases 2] [--repeats 3] [--workdir DIR] [--keep]

On an msprime cohort from the synthetic genome generator (fake CPR-shaped numbers made up at
run time), 2 Mb of chr17 around BRCA1 plus two chrX windows by default, it measures:

1. ingest + aggregate of the joint VCF (read, normalise, QC, count, store, publish a
   release) against `bcftools norm -m -any -f ref.fa | bcftools +fill-tags -t
   AC,AN,AF,AC_Hom` on the same file, both on 2 cores; then compares every AC, AN, AF and
   nhomalt (= AC_Hom / 2) of the two;
2. the cost of adding one genome to a store of 10 and of 1,000 genomes (and, apart, of
   publishing the release that follows);
3. look-up latency (p50/p99) with 50 concurrent clients (wrk) against a local API server
   with 2 workers (127.0.0.1 only; three runs of 10 s, the median reported).

Timings are the best of `--repeats` runs (the machine may be shared); our ingest is timed
in-process after one warm-up run (Python start-up and first-call initialisation excluded).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.api.access import TokenStore
from genomics_variants.api.privacy import Tier
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest, publish
from synthetic_deliveries.genomes import DEFAULT_WINDOWS, Window, write_genomes

CORES = 2
CUTOFF = date(2026, 3, 31)
CLIENTS = 50
LATENCY_SECONDS = 10
LATENCY_RUNS = 3


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


def cohort_windows(megabases: float) -> tuple[Window, ...]:
    """The generator's windows with the chr17 one (from BRCA1's neighbourhood) widened."""
    chr17, *others = DEFAULT_WINDOWS
    length = int(megabases * 1_000_000)
    return (Window(chr17.contig, chr17.start, chr17.start + length - 1), *others)


def _simulated(delivery: Path) -> tuple[int, list[str]]:
    """(samples, simulated regions) of an existing delivery, to reuse it when they match."""
    manifest = json.loads((delivery / "manifest.json").read_text(encoding="utf-8"))
    return _samples_in(delivery), list(manifest.get("simulated_regions", []))


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (bcftools, reader processes)."""
    while multiprocessing.active_children():  # reap reader processes so their time counts
        time.sleep(0.005)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, float]:
    """(best wall-clock seconds, best CPU seconds) over `repeats` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu = _cpu()
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), min(cpus)


def bcftools_pipeline(vcf: Path, fasta: Path, out: Path) -> None:
    """norm | +fill-tags, as a shell pipeline would run it (VCF text between the stages)."""
    with out.open("wb") as sink:
        norm = subprocess.Popen(
            ["bcftools", "norm", "-m", "-any", "-f", str(fasta), str(vcf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        tags = subprocess.Popen(
            ["bcftools", "+fill-tags", "--", "-t", "AC,AN,AF,AC_Hom"],
            stdin=norm.stdout,
            stdout=sink,
        )
        assert norm.stdout is not None
        norm.stdout.close()
        if tags.wait() or norm.wait():
            raise SystemExit("bcftools pipeline failed")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(port: int, script: Path, seconds: int) -> str:
    """Run wrk (one thread, CLIENTS keep-alive connections) and return its report."""
    return subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CLIENTS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout


def _percentile(report: str, label: str) -> float:
    """A latency percentile (ms) from wrk's --latency table, e.g. label "99%"."""
    for line in report.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == label:
            number = re.match(r"([0-9.]+)(us|ms|s)$", parts[1])
            if number:
                return float(number[1]) * UNITS[number[2]]
    raise SystemExit(f"wrk printed no {label} latency:\n{report}")


def lookup_latency(
    store: Path, variants: list[str], workers: int, work: Path
) -> list[tuple[float, float, float]]:
    """(p50, p99, requests per second) of /variants/{id} with 50 concurrent clients, for
    each of LATENCY_RUNS runs of LATENCY_SECONDS against one server.

    wrk (C, one thread) plays the clients, so the 2 cores go to the server rather than to
    a Python load generator; each connection asks for the next variant of a shuffled list
    as soon as its answer arrives. The token is a registered one with a daily budget (of
    1,000,000, so the run stays inside it): tier, disclosure control, budget and audit all
    run as for a real user.
    """
    token = TokenStore(Store(store).access_dir).add(
        f"bench-{secrets.token_hex(4)}", Tier.REGISTERED, budget=1_000_000
    )
    paths = work / "lookup-paths.txt"
    paths.write_text("".join(f"/variants/{v}\n" for v in variants), encoding="utf-8")
    script = work / "lookup.lua"
    script.write_text(WRK_SCRIPT % {"paths": paths, "token": token}, encoding="utf-8")
    port = free_port()
    code = (
        "import sys; from pathlib import Path; from genomics_variants.api.server import serve; "
        "serve(Path(sys.argv[1]), port=int(sys.argv[2]), workers=int(sys.argv[3]))"
    )
    server = subprocess.Popen([sys.executable, "-c", code, str(store), str(port), str(workers)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the API server did not start") from None
                time.sleep(0.1)
        _wrk(port, script, 3)  # warm-up: index load, connections
        reports = [_wrk(port, script, LATENCY_SECONDS) for _ in range(LATENCY_RUNS)]
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful stop (its workers follow)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    runs = []
    for report in reports:
        if "Non-2xx" in report:
            raise SystemExit(f"some look-ups failed:\n{report}")
        rate = re.search(r"Requests/sec:\s+([0-9.]+)", report)
        if rate is None:
            raise SystemExit(f"wrk printed no request rate:\n{report}")
        runs.append((_percentile(report, "50%"), _percentile(report, "99%"), float(rate[1])))
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.variants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--samples", type=int, default=5000, help="cohort size (default 5000)")
    parser.add_argument(
        "--megabases",
        type=float,
        default=2.0,
        help="length of the simulated chr17 stretch (default 2; 25 is the whole p arm)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per measurement (best is kept)"
    )
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    for tool in ("bcftools", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (make reference-tools)")
    if args.samples < 1200:
        raise SystemExit(
            "--samples must be at least 1200 (stores of 10 and 1,000 are built from it)"
        )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-variants-"))
    work.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)  # synthetic people: a throw-away pseudonymisation key
    rng = np.random.default_rng(2026)
    try:
        delivery = work / "landing" / "genomes" / f"genomes-{CUTOFF:%Y%m}"
        windows = cohort_windows(args.megabases)
        wanted = (args.samples, [w.label for w in windows])
        if not (delivery / "manifest.json").exists() or _simulated(delivery) != wanted:
            print(f"simulating {args.samples:,} genomes (msprime) in {work} ...", flush=True)
            write_genomes(
                work / "landing",
                fake_samples(args.samples, rng),
                seed=7,
                cutoff=CUTOFF,
                windows=windows,
            )
        for old in work.glob("store-*"):
            shutil.rmtree(old)
        fasta = delivery / "reference" / "GRCh38_subset.fa.gz"
        joint = delivery / "joint" / "cohort.vcf.gz"
        manifest = delivery / "sample_manifest.tsv"
        records = int(
            subprocess.run(
                ["bcftools", "index", "-n", str(joint)], capture_output=True, text=True, check=True
            ).stdout
        )
        joint_samples = subprocess.run(
            ["bcftools", "query", "-l", str(joint)], capture_output=True, text=True, check=True
        ).stdout.split()

        print("1/3 ingest vs bcftools ...", flush=True)
        bcftools_out = work / "bcftools.vcf"
        t_bcftools, cpu_bcftools = best_of(
            args.repeats, lambda: bcftools_pipeline(joint, fasta, bcftools_out)
        )
        stores = iter(range(1_000))

        def ours() -> None:
            store = work / f"store-{next(stores)}"
            ingest(store, [joint], fasta, key=key, manifest=manifest, workers=CORES)

        ours()  # warm-up
        t_ours, cpu_ours = best_of(args.repeats, ours)
        last = work / f"store-{next(stores) - 1}"
        release = next((last / "releases").glob("r*/frequencies.parquet"))
        compared, mismatches = compare(bcftools_out, release)

        print("2/3 adding one genome to 10 and 1,000 genomes ...", flush=True)
        genome = next(
            p for p in sorted((delivery / "per_sample").glob("*.vcf.gz")) if ".g." not in p.name
        )
        add, publishing = {}, {}
        for size in (10, 1_000):
            subset = subset_vcf(joint, joint_samples[:size], work / f"joint-{size}.vcf.gz")
            base = work / f"base-{size}"
            ingest(base, [subset], fasta, key=key, manifest=manifest, workers=CORES)
            add[size], publishing[size] = add_one_genome(
                base, genome, fasta, manifest, key, work, max(args.repeats, 7)
            )

        print("3/3 look-up latency, 50 concurrent clients ...", flush=True)
        variants = pq.read_table(release, columns=["variant_id"]).column("variant_id").to_pylist()
        order = rng.permutation(len(variants))
        latency = lookup_latency(last, [variants[i] for i in order], CORES, work)
        p50, p99, rate = (statistics.median(run[k] for run in latency) for k in range(3))
        p99s = sorted(run[1] for run in latency)

        rows = [
            (
                "joint VCF",
                f"{args.samples:,} simulated; {len(joint_samples):,} in the joint VCF, "
                f"{records:,} records, {joint.stat().st_size / 1e6:,.0f} MB",
            ),
            (
                "bcftools norm | +fill-tags",
                f"{t_bcftools:.2f} s wall ({records / t_bcftools:,.0f} records/s), "
                f"{cpu_bcftools:.2f} s CPU",
            ),
            (
                "medfollow ingest + release",
                f"{t_ours:.2f} s wall ({records / t_ours:,.0f} records/s), {cpu_ours:.2f} s CPU",
            ),
            (
                "speed-up (target >= 2x)",
                f"{t_bcftools / t_ours:.2f}x wall, {cpu_bcftools / cpu_ours:.2f}x CPU",
            ),
            ("load average during the run", f"{os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)"),
            ("AC/AN/AF/nhomalt compared", f"{compared:,} variants, {mismatches} differ"),
            (
                "add one genome to 10",
                f"{add[10] * 1000:.0f} ms (then publishing a release: {publishing[10] * 1000:.0f} ms)",
            ),
            (
                "add one genome to 1,000",
                f"{add[1_000] * 1000:.0f} ms (then publishing a release: "
                f"{publishing[1_000] * 1000:.0f} ms)",
            ),
            ("ratio 1,000 / 10 (target <= 1.5)", f"{add[1_000] / add[10]:.2f}"),
            (
                "look-up p50 / p99 (target p99 < 20 ms)",
                f"{p50:.1f} / {p99:.1f} ms, median of {LATENCY_RUNS} runs (p99 "
                f"{p99s[0]:.1f}-{p99s[-1]:.1f}; {rate:,.0f} req/s; wrk, {CLIENTS} connections, "
                f"{LATENCY_SECONDS} s each)",
            ),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"\nvariant frequencies benchmark ({os.cpu_count()} CPUs visible, {CORES} used)")
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")
        if mismatches:
            raise SystemExit("counts differ from bcftools")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
