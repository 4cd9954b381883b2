"""Benchmark the variant-frequency database against bcftools, and its API latency.

    python -m bench.variants [--samples 5000] [--repeats 3] [--workdir DIR] [--keep]

On an msprime cohort from the synthetic genome generator (fake CPR-shaped numbers made up at
run time) it measures:

1. ingest + aggregate of the joint VCF (read, normalise, QC, count, store, publish a
   release) against `bcftools norm -m -any -f ref.fa | bcftools +fill-tags -t
   AC,AN,AF,AC_Hom` on the same file, both on 2 cores; then compares every AC, AN, AF and
   nhomalt (= AC_Hom / 2) of the two;
2. the cost of adding one genome to a store of 10 and of 1,000 genomes;
3. look-up latency (p50/p99) with 50 concurrent clients against a local API server
   (127.0.0.1 only, bounded in requests and time).

Timings are the best of `--repeats` runs (the machine may be shared); our ingest is timed
in-process after one warm-up run (Python start-up and first-call initialisation excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
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
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest
from medfollow.synth.genomes import write_genomes

CORES = 2
CUTOFF = date(2026, 3, 31)
CLIENTS = 50
REQUESTS_PER_CLIENT = 40
LATENCY_TIMEOUT = 120.0


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
) -> float:
    """Median time of adding one genome (and publishing) to a copy of the store at `base`."""
    times = []
    for i in range(repeats):
        store = work / f"add-{i}"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(base, store)
        start = time.perf_counter()
        result, _ = ingest(store, [genome], fasta, key=key, manifest=manifest, workers=CORES)
        times.append(time.perf_counter() - start)
        assert result.added == 1
        shutil.rmtree(store)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(port: int, token: str, paths: list[str], latencies: list[float]) -> None:
    """One keep-alive HTTP/1.1 client (asyncio streams: light enough not to be the bottleneck)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"look-up failed: {head.splitlines()[0].decode()}")
    finally:
        writer.close()


async def _clients(port: int, token: str, variants: list[str]) -> list[float]:
    latencies: list[float] = []
    work = [
        [
            f"/variants/{variants[(c * REQUESTS_PER_CLIENT + i) % len(variants)]}"
            for i in range(REQUESTS_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]
    await asyncio.wait_for(
        asyncio.gather(*(_client(port, token, paths, latencies) for paths in work)), LATENCY_TIMEOUT
    )
    return latencies


def lookup_latency(store: Path, variants: list[str], workers: int) -> tuple[float, float, float]:
    """(p50, p99, requests per second) of /variants/{id} with 50 concurrent clients."""
    token = TokenStore(Store(store).access_dir).add(
        f"bench-{secrets.token_hex(4)}", Tier.REGISTERED, budget=0
    )
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
        asyncio.run(_clients(port, token, variants[:200]))  # warm-up (index load, connections)
        start = time.perf_counter()
        latencies = asyncio.run(_clients(port, token, variants))
        elapsed = time.perf_counter() - start
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful stop (its workers follow)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    ms = np.array(latencies) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(ms) / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.variants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--samples", type=int, default=5000, help="cohort size (default 5000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per measurement (best is kept)"
    )
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if shutil.which("bcftools") is None:
        raise SystemExit("bcftools is not installed (make reference-tools)")
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
        if not (delivery / "manifest.json").exists() or _samples_in(delivery) != args.samples:
            print(f"simulating {args.samples:,} genomes (msprime) in {work} ...", flush=True)
            write_genomes(work / "landing", fake_samples(args.samples, rng), seed=7, cutoff=CUTOFF)
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
        add = {}
        for size in (10, 1_000):
            subset = subset_vcf(joint, joint_samples[:size], work / f"joint-{size}.vcf.gz")
            base = work / f"base-{size}"
            ingest(base, [subset], fasta, key=key, manifest=manifest, workers=CORES)
            add[size] = add_one_genome(
                base, genome, fasta, manifest, key, work, max(args.repeats, 5)
            )

        print("3/3 look-up latency, 50 concurrent clients ...", flush=True)
        variants = pq.read_table(release, columns=["variant_id"]).column("variant_id").to_pylist()
        order = rng.permutation(len(variants))
        p50, p99, rate = lookup_latency(last, [variants[i] for i in order], CORES)

        rows = [
            (
                "joint VCF",
                f"{args.samples:,} simulated; {len(joint_samples):,} in the joint VCF, {records:,} records",
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
            ("add one genome to 10", f"{add[10] * 1000:.0f} ms"),
            ("add one genome to 1,000", f"{add[1_000] * 1000:.0f} ms"),
            ("ratio 1,000 / 10 (target <= 1.5)", f"{add[1_000] / add[10]:.2f}"),
            (
                "look-up p50 / p99 (target p99 < 20 ms)",
                f"{p50:.1f} / {p99:.1f} ms ({rate:,.0f} req/s, "
                f"{CLIENTS} clients x {REQUESTS_PER_CLIENT})",
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
