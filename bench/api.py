"""Benchmark the variant API's two look-ups side by side: `/variants/{id}` and Beacon v2
`GET /g_variants`.

    python -m bench.api [--samples 1000] [--megabases 0.5] [--workdir DIR] [--keep]

On a small msprime cohort from the synthetic genome generator (fake CPR-shaped numbers
made up at run time; bench/variants.py's cohort at fewer samples), ingested into a store
that publishes one release, one API server with 2 workers is loaded by wrk (C, one
thread, 50 keep-alive connections) with a registered token (daily budget and audit log on,
as for a real user). Each connection asks for the next item of one shuffled list of the
release's variants plus about 10 % absent ones (an alternate allele not in the release at
a listed position), spelled for each endpoint:

* `/variants/chr17-43044295-T-C`
* `/g_variants?referenceName=chr17&start=43044294&referenceBases=T&alternateBases=C
  &assemblyId=GRCh38&requestedGranularity=record` - the standard Beacon sequence query as a
  clinician's client sends it: asking for records, the most it may be given (a registered
  token is answered with counts, its tier's ceiling);
* the same without `requestedGranularity` (the Beacon default, boolean), for comparison.

The three runs of 10 s per endpoint are interleaved (variants, g_variants record, g_variants
default; three times) after a warm-up of each, so a change in the machine's load touches
every endpoint alike; p50, p99 and requests per second are the medians of the three runs,
and the g_variants / variants ratio of requests per second is worked out from those.
Beside them, the CPU time the server's processes spent per request (from /proc): on a
shared machine latency and throughput follow what else runs, CPU per request hardly does.
Target (issue 14): g_variants p99 < 20 ms and a ratio of at least 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bench.variants import CUTOFF, cohort_windows, fake_samples
from genomics_variants.api.access import TokenStore
from genomics_variants.api.privacy import Tier
from genomics_variants.contributions.store import Store
from genomics_variants.pipeline import ingest
from synthetic_deliveries.genomes import write_genomes

WORKERS = 2
CLIENTS = 50
SECONDS = 10
RUNS = 3
ABSENT_FRACTION = 0.1
BEACON = "/g_variants?referenceName={chrom}&start={start}&referenceBases={ref}&alternateBases={alt}&assemblyId=GRCh38"
ENDPOINTS = {
    "variants": "/variants/{chrom}-{pos}-{ref}-{alt}",
    "g_variants (record asked)": BEACON + "&requestedGranularity=record",
    "g_variants (default)": BEACON,
}
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
Run = tuple[float, float, float, float]  # p50 ms, p99 ms, requests/s, server CPU us/request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_store(work: Path, samples: int, megabases: float, rng: np.random.Generator) -> Path:
    """A store with one release of a simulated cohort (the delivery is reused when a kept
    working folder already holds one of the same size)."""
    delivery = work / "landing" / "genomes" / f"genomes-{CUTOFF:%Y%m}"
    windows = cohort_windows(megabases)
    wanted = {"samples": samples, "regions": [w.label for w in windows]}
    marker = work / "cohort.json"
    if not marker.exists() or json.loads(marker.read_text(encoding="utf-8")) != wanted:
        print(f"simulating {samples:,} genomes (msprime) in {work} ...", flush=True)
        shutil.rmtree(work / "landing", ignore_errors=True)
        write_genomes(
            work / "landing", fake_samples(samples, rng), seed=7, cutoff=CUTOFF, windows=windows
        )
        marker.write_text(json.dumps(wanted), encoding="utf-8")
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    print("ingesting the joint VCF and publishing a release ...", flush=True)
    ingest(
        store,
        [delivery / "joint" / "cohort.vcf.gz"],
        delivery / "reference" / "GRCh38_subset.fa.gz",
        key=secrets.token_bytes(32),  # synthetic people: a throw-away pseudonymisation key
        manifest=delivery / "sample_manifest.tsv",
        workers=WORKERS,
    )
    return store


def queried_variants(store: Path, rng: np.random.Generator) -> list[tuple[str, int, str, str]]:
    """(chrom, pos, ref, alt) of every variant of the release, plus ABSENT_FRACTION as many
    SNVs the release does not list (another alternate base at a listed SNV's position),
    shuffled."""
    release = next((store / "releases").glob("r*/frequencies.parquet"))
    table = pq.read_table(release, columns=["chrom", "pos", "ref", "alt"]).to_pylist()
    present = [(r["chrom"], int(r["pos"]), r["ref"], r["alt"]) for r in table]
    listed = set(present)
    absent = []
    for i in rng.permutation(len(present)).tolist():
        chrom, pos, ref, _ = present[i]
        if len(ref) != 1:
            continue
        free = [b for b in "ACGT" if b != ref and (chrom, pos, ref, b) not in listed]
        if free:
            absent.append((chrom, pos, ref, free[0]))
        if len(absent) >= ABSENT_FRACTION * len(present):
            break
    every = present + absent
    return [every[i] for i in rng.permutation(len(every)).tolist()]


def paths_for(template: str, variants: list[tuple[str, int, str, str]]) -> str:
    return "".join(
        template.format(chrom=c, pos=p, start=p - 1, ref=r, alt=a) + "\n" for c, p, r, a in variants
    )


def wrk(port: int, script: Path, seconds: int, server: int) -> Run:
    """One wrk run (one thread, CLIENTS keep-alive connections): (p50, p99, req/s, CPU
    microseconds the server process `server` and its workers spent per request)."""
    cpu = tree_cpu(server)
    report = subprocess.run(
        [
            *("wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "--latency"),
            *("-s", str(script), f"http://127.0.0.1:{port}/"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if "Non-2xx" in report:
        raise SystemExit(f"some look-ups failed:\n{report}")
    cpu = tree_cpu(server) - cpu
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", report)
    done = re.search(r"([0-9]+) requests in", report)
    if rate is None or done is None:
        raise SystemExit(f"wrk printed no request rate:\n{report}")
    per_request = cpu / max(1, int(done[1])) * 1e6
    return percentile(report, "50%"), percentile(report, "99%"), float(rate[1]), per_request


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by process `root` and its descendants (the
    uvicorn workers), from /proc: unlike requests per second, barely moved by whatever
    else the machine runs."""
    parent, used = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # fields after "(command)": state, ppid, ..., utime (12th), stime (13th)
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            parent[int(entry.name)] = int(fields[1])
            used[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, ppid in parent.items() if ppid in frontier]
        tree.update(children)
        frontier = children
    return sum(used.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def percentile(report: str, label: str) -> float:
    """A latency percentile (ms) from wrk's --latency table, e.g. label "99%"."""
    for line in report.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == label:
            number = re.match(r"([0-9.]+)(us|ms|s)$", parts[1])
            if number:
                return float(number[1]) * UNITS[number[2]]
    raise SystemExit(f"wrk printed no {label} latency:\n{report}")


def start_server(store: Path, port: int) -> subprocess.Popen[bytes]:
    """The API (genomics_variants.api.server, WORKERS workers) on 127.0.0.1:`port`, once
    it accepts connections."""
    code = (
        "import sys; from pathlib import Path; from genomics_variants.api.server import serve; "
        "serve(Path(sys.argv[1]), port=int(sys.argv[2]), workers=int(sys.argv[3]))"
    )
    server = subprocess.Popen([sys.executable, "-c", code, str(store), str(port), str(WORKERS)])
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                stop(server)
                raise SystemExit("the API server did not start") from None
            time.sleep(0.1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)  # uvicorn's graceful stop (its workers follow)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def measure(
    store: Path,
    variants: list[tuple[str, int, str, str]],
    work: Path,
    inspect: Callable[[int], Any] | None = None,
) -> tuple[dict[str, list[Run]], Any]:
    """RUNS interleaved wrk runs of every endpoint against one server, after a warm-up;
    with what `inspect` finds of the server process (by pid) after the last run."""
    token = TokenStore(Store(store).access_dir).add(
        f"bench-{secrets.token_hex(4)}", Tier.REGISTERED, budget=10_000_000
    )
    scripts = {}
    for i, (name, template) in enumerate(ENDPOINTS.items()):
        paths = work / f"paths-{i}.txt"
        paths.write_text(paths_for(template, variants), encoding="utf-8")
        scripts[name] = work / f"load-{i}.lua"
        scripts[name].write_text(WRK_SCRIPT % {"paths": paths, "token": token}, encoding="utf-8")
    port = free_port()
    server = start_server(store, port)
    try:
        for script in scripts.values():
            wrk(port, script, 3, server.pid)  # warm-up: index load, connections, caches
        runs: dict[str, list[Run]] = {name: [] for name in scripts}
        for run in range(RUNS):
            for name, script in scripts.items():
                print(f"  run {run + 1}/{RUNS}: {name} ...", flush=True)
                runs[name].append(wrk(port, script, SECONDS, server.pid))
        found = inspect(server.pid) if inspect else None
    finally:
        stop(server)
    return runs, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--samples", type=int, default=1000, help="cohort size (default 1000)")
    parser.add_argument(
        "--megabases", type=float, default=0.5, help="simulated chr17 stretch (default 0.5)"
    )
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make reference-tools)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-api-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    try:
        store = build_store(work, args.samples, args.megabases, rng)
        variants = queried_variants(store, rng)
        print(f"{WORKERS} workers, wrk {CLIENTS} connections, {RUNS} x {SECONDS} s each ...")
        runs, _ = measure(store, variants, work)
        medians = {
            name: tuple(statistics.median(run[k] for run in done) for k in range(4))
            for name, done in runs.items()
        }
        print(
            f"\nAPI look-ups ({args.samples:,} simulated genomes, {len(variants):,} queried "
            f"variants of which ~{ABSENT_FRACTION:.0%} absent; registered token, budget and "
            f"audit on; median of {RUNS} runs)"
        )
        width = max(map(len, medians))
        for name, (p50, p99, rate, cpu) in medians.items():
            p99s = sorted(run[1] for run in runs[name])
            print(
                f"  {name:<{width}}  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms "
                f"(runs {p99s[0]:.1f}-{p99s[-1]:.1f})  {rate:7,.0f} req/s  "
                f"server CPU {cpu:4.0f} us/request"
            )
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
        _, _, rate, cpu = medians["variants"]
        for name in list(medians)[1:]:
            print(
                f"  {name} / variants (target >= 1): {medians[name][2] / rate:.2f} req/s, "
                f"{cpu / medians[name][3]:.2f} by server CPU per request"
            )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
