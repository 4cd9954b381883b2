"""Serve a national-size release from disk: a synthetic release of 100,000,000 variants
with every stratum, generated directly (no VCFs), answered by the API.

    python -m bench.serving [--variants 100000000] [--workdir DIR] [--keep]

The release is made of counts drawn per variant and cell (sex x region) for a cohort of
60,000 genomes: allele counts heavy-tailed (most variants singletons, as in gnomAD), split
over the cells by their size, a few per cent of calls missing or failing QC, hemizygous on
chrX/chrY outside the PARs; every published field is then computed from those counts by the
release's own code (release.frequencies_of, strata.py), so the table has the shape and
value distribution of a real one (autosomal value rows after the first 2 M are drawn again
from those: see frequency_chunks). Positions are spread over the contigs by length; about
one in ten is an indel and positions with several alleles occur. Callable intervals (AN per
stratum) tile the genome in 10 kb runs. Only the served layout is written (served.py): the
API reads nothing else, and the Parquet copy of 100 M rows would only cost time here.

Measured: the time to write it; the time to open it (FrequencyIndex: the block index read
into memory) and for a running API to switch to a new release; then one API server with 2
workers under wrk (50 connections, 3 interleaved runs of 10 s per endpoint) over a shuffled
list of random present variants and about 10 % absent ones (another allele at a listed
position), for `/variants/{id}` and Beacon `GET /g_variants`; the resident memory (VmRSS and
its peak VmHWM) of each worker afterwards. Targets (issue 16): worker RSS < 4 GiB and p99
< 20 ms on both endpoints.

The generated release is kept in the working folder and reused by a later run with the same
size (`--workdir`), since writing it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.api import (
    ABSENT_FRACTION,
    CLIENTS,
    RUNS,
    SECONDS,
    WORKERS,
    free_port,
    measure,
    start_server,
    stop,
)
from genomics_variants.api.access import TokenStore
from genomics_variants.api.privacy import Tier
from genomics_variants.assembly import ASSEMBLY, CONTIG_LENGTHS, UNCOUNTED_CONTIGS, sex_nonpar
from genomics_variants.contributions.cells import REGIONS, SEXES
from genomics_variants.contributions.measures import N_MEASURES, M
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import (
    COVERAGE_TABLE,
    RELEASE_FILE,
    VARIANTS_TABLE,
    Release,
    frequencies_of,
)
from genomics_variants.frequencies.served import SERVED_DIR, BlockCache, layout_of, write_served
from genomics_variants.frequencies.strata import RATIO_COLUMNS, STRATA, column
from genomics_variants.sites import Sites

VARIANTS = 100_000_000
GENOMES = 60_000
CHUNK = 1 << 18
POOL = 8  # chunks of autosomal values computed; later autosomal chunks reuse them
COVERAGE_RUN = 10_000
QUERIES = 200_000
SHARE_OF_REGION = {  # of the cohort, by region of residence (roughly Denmark's population)
    "hovedstaden": 0.32,
    "midtjylland": 0.23,
    "syddanmark": 0.21,
    "sjaelland": 0.14,
    "nordjylland": 0.095,
    "unknown": 0.005,
}
BASES = np.array(list("ACGT"))


def cell_sizes() -> np.ndarray:
    """Genomes per cell (sex-major, as contributions/cells.py orders them)."""
    shares = np.array([SHARE_OF_REGION[r] for r in REGIONS])
    per_sex = np.round(GENOMES / len(SEXES) * shares / shares.sum()).astype(np.int64)
    return np.concatenate([per_sex] * len(SEXES))


def _positions(contig: str, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.integers(1, CONTIG_LENGTHS[contig] + 1, n))


def _alleles(pos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """REF from the position (one base per position), ALT distinct per allele of a position:
    three SNVs, then insertions; about one allele in ten an insertion anyway."""
    ref_code = (pos * 2654435761) % 4
    run_start = np.r_[0, np.flatnonzero(np.diff(pos)) + 1]
    occurrence = np.arange(len(pos)) - np.repeat(run_start, np.diff(np.r_[run_start, len(pos)]))
    ref = BASES[ref_code]
    alt = BASES[(ref_code + 1 + occurrence % 3) % 4].astype(object)
    inserted = (occurrence >= 3) | ((rng.random(len(pos)) < 0.1) & (occurrence == 0))
    extra = np.maximum(1, occurrence - 2)
    alt[inserted] = [r + "T" * k for r, k in zip(ref[inserted], extra[inserted], strict=True)]
    return ref.astype(object), alt


def _split(total: np.ndarray, share: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A multinomial draw of `total` over the columns of `share` for every row at once (a
    binomial per column of what is left)."""
    out = np.zeros(share.shape, dtype=np.int64)
    left, rest = total.astype(np.int64), np.ones(len(total))
    for k in range(share.shape[1]):
        p = np.divide(share[:, k], rest, out=np.zeros(len(total)), where=rest > 0).clip(0, 1)
        out[:, k] = rng.binomial(left, p)
        left -= out[:, k]
        rest -= share[:, k]
    return out


def _counts(contig: str, pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(variants, cells, measures) counts of a cohort of GENOMES (see module docstring)."""
    n, sizes = len(pos), cell_sizes()
    cells = len(sizes)
    xy = np.repeat([s == "XY" for s in SEXES], len(REGIONS))
    haploid = np.zeros((n, cells), dtype=bool)
    if contig in ("chrX", "chrY"):
        haploid[:, xy] = sex_nonpar(contig, pos)[:, None]
    speaking = np.broadcast_to(sizes, (n, cells)).copy()
    if contig == "chrY":
        speaking[:, ~xy] = 0
    called = speaking - rng.binomial(speaking, 0.01)
    called_adj = called - rng.binomial(called, 0.02)
    ploidy = np.where(haploid, 1, 2)
    an, an_adj = called * ploidy, called_adj * ploidy
    total = np.minimum(rng.zipf(1.6, n), an.sum(axis=1) // 4).clip(min=1)
    share = an / np.maximum(an.sum(axis=1, keepdims=True), 1)
    ac = _split(total, share, rng)
    ac = np.minimum(ac, an)
    af = ac / np.maximum(an, 1)
    nhap = np.where(haploid, ac, 0)
    nhomalt = np.where(haploid, 0, rng.binomial((ac - nhap) // 2, af))
    lost = rng.binomial(ac, 0.03)
    ac_adj = np.minimum(ac - lost, an_adj)
    nhap_adj = np.where(haploid, ac_adj, 0)
    nhomalt_adj = np.minimum(nhomalt, (ac_adj - nhap_adj) // 2)
    out = np.zeros((n, cells, N_MEASURES), dtype=np.int32)
    for name, values in {
        "n": speaking,
        "called": called,
        "an": an,
        "ac": ac,
        "nhomalt": nhomalt,
        "nhap": nhap,
        "called_adj": called_adj,
        "an_adj": an_adj,
        "ac_adj": ac_adj,
        "nhomalt_adj": nhomalt_adj,
        "nhap_adj": nhap_adj,
    }.items():
        out[:, :, M[name]] = values
    seen = rng.random(n) < 0.01
    out[seen, 0, M["seen_unknown"]] = 1
    return out


def contig_shares(variants: int) -> dict[str, int]:
    """Variants per counted contig, by length."""
    counted = [c for c in CONTIG_LENGTHS if c not in UNCOUNTED_CONTIGS]
    lengths = np.array([CONTIG_LENGTHS[c] for c in counted], dtype=np.float64)
    shares = np.floor(variants * lengths / lengths.sum()).astype(np.int64)
    shares[0] += variants - int(shares.sum())
    return dict(zip(counted, shares.tolist(), strict=True))


def frequency_chunks(variants: int, seed: int) -> Iterator[pa.Table]:
    """The release's rows in genome order, CHUNK at a time. Autosomal rows past the first
    POOL chunks take their values (counts and fields) from those chunks, with their own
    variants: computing the fields is the slow part, and a block is compressed on its own,
    so reused values change neither its size nor the cost of reading it."""
    rng = np.random.default_rng(seed)
    pool: list[pa.Table] = []
    for contig, n in contig_shares(variants).items():
        pos = _positions(contig, n, rng)
        sexed = contig in ("chrX", "chrY")
        for start in range(0, n, CHUNK):
            at = pos[start : start + CHUNK]
            ref, alt = _alleles(at, rng)
            sites = Sites.build(np.full(len(at), contig), at, ref, alt)
            if sexed or len(pool) < POOL:
                table = frequencies_of(sites, _counts(contig, at, rng))
                if not sexed:
                    pool.append(table)
                yield table
                continue
            table = pool[start // CHUNK % POOL].slice(0, len(at))
            named = {"variant_id": pa.array(sites.ids, pa.string()), **sites.to_arrow()}
            for name, values in named.items():
                table = table.set_column(table.schema.get_field_index(name), name, values)
            yield table


def coverage_chunks(seed: int) -> Iterator[pa.Table]:
    """Callable intervals of COVERAGE_RUN bp with a gap of 1 kb between them, AN per
    stratum a little below the full cohort's."""
    rng = np.random.default_rng(seed + 1)
    sizes = cell_sizes()
    full = {"all": int(sizes.sum()) * 2}
    for i, sex in enumerate(SEXES):
        full[sex] = int(sizes[i * len(REGIONS) : (i + 1) * len(REGIONS)].sum()) * 2
    for j, region in enumerate(REGIONS):
        full[region] = int(sizes[j :: len(REGIONS)].sum()) * 2
    for contig, length in CONTIG_LENGTHS.items():
        if contig in UNCOUNTED_CONTIGS:
            continue
        start = np.arange(1, length, COVERAGE_RUN + 1_000, dtype=np.int64)
        end = np.minimum(start + COVERAGE_RUN - 1, length)
        columns: dict[str, pa.Array] = {
            "chrom": pa.array(np.full(len(start), contig)),
            "start": pa.array(start),
            "end": pa.array(end),
        }
        for stratum in STRATA:
            missing = rng.integers(0, max(1, full[stratum] // 50), len(start))
            columns[column("an", stratum)] = pa.array(full[stratum] - missing, pa.int32())
        yield pa.table(columns)


def write_synthetic_release(store: Path, variants: int, seed: int = 16) -> Path:
    """Write the release as r00001 of a store and point CURRENT at it."""
    folder = store / "releases" / "r00001"
    shutil.rmtree(store / "releases", ignore_errors=True)
    served = folder / SERVED_DIR
    first = next(frequency_chunks(1_000, seed))
    rows = write_served(
        served,
        VARIANTS_TABLE,
        frequency_chunks(variants, seed),
        layout_of(first.schema, "chrom", "pos", ratios=RATIO_COLUMNS),
        threads=os.cpu_count() or 1,
    )
    cover = next(coverage_chunks(seed))
    write_served(
        served, COVERAGE_TABLE, coverage_chunks(seed), layout_of(cover.schema, "chrom", "start")
    )
    meta = {
        "release_id": "r00001",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "assembly": ASSEMBLY,
        "sample_count": GENOMES,
        "variant_count": rows,
        "strata": list(STRATA),
        "synthetic": True,
    }
    (folder / RELEASE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (store / "releases" / "CURRENT").write_text("r00001\n", encoding="utf-8")
    return folder


def queried_variants(
    index: FrequencyIndex, rng: np.random.Generator
) -> list[tuple[str, int, str, str]]:
    """QUERIES random present variants and ABSENT_FRACTION as many absent ones, shuffled."""
    rows = rng.choice(len(index), QUERIES, replace=False)
    present = []
    for row in rows.tolist():
        contig, at, bases, allele = str(index.value("variant_id", row)).split("-")
        present.append((contig, int(at), bases, allele))
    absent = []
    for chrom, pos, ref, _ in present[: int(QUERIES * ABSENT_FRACTION * 2)]:
        for base in "ACGT":
            twin = f"{chrom}-{pos}-{ref}-{base}"
            if base != ref and len(ref) == 1 and index.row(twin) is None:
                absent.append((chrom, pos, ref, base))
                break
        if len(absent) >= QUERIES * ABSENT_FRACTION:
            break
    every = present + absent
    return [every[i] for i in rng.permutation(len(every)).tolist()]


def open_seconds(folder: Path) -> float:
    """Median time to open the release and answer a first look-up (5 openings)."""
    release = Release("r00001", folder, json.loads((folder / RELEASE_FILE).read_text()))
    times = []
    for _ in range(5):
        started = time.perf_counter()
        index = FrequencyIndex(release, BlockCache(64 << 20))
        index.row("chr17-43045711-G-A")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def switch_seconds(store: Path, port: int) -> float:
    """Seconds from CURRENT pointing at a new release (r00002, the same files hard-linked)
    until the running API answers from it."""
    shutil.copytree(
        store / "releases" / "r00001", store / "releases" / "r00002", copy_function=os.link
    )
    meta = json.loads((store / "releases" / "r00002" / RELEASE_FILE).read_text())
    meta["release_id"] = "r00002"
    (store / "releases" / "r00002" / RELEASE_FILE).write_text(json.dumps(meta))
    staged = store / "releases" / ".CURRENT.tmp"
    staged.write_text("r00002\n")
    token = TokenStore(Store(store).access_dir).add(
        f"switch-{secrets.token_hex(4)}", Tier.REGISTERED, budget=1_000_000
    )
    asked = urllib.request.Request(
        f"http://127.0.0.1:{port}/variants/chr1-1-A-C", headers={"Authorization": f"Bearer {token}"}
    )
    started = time.perf_counter()
    os.replace(staged, store / "releases" / "CURRENT")
    while time.perf_counter() - started < 30:
        with urllib.request.urlopen(asked) as answer:
            if json.loads(answer.read()).get("release") == "r00002":
                return time.perf_counter() - started
        time.sleep(0.01)
    raise SystemExit("the API did not switch to the new release within 30 s")


def worker_memory(server: int) -> list[tuple[int, int, int]]:
    """(pid, VmRSS, VmHWM) in bytes of each worker process of the server."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip() or 0) != server:
            continue
        if b"resource_tracker" in (entry / "cmdline").read_bytes():  # not a worker
            continue
        rss = int(fields["VmRSS"].split()[0]) * 1024
        peak = int(fields["VmHWM"].split()[0]) * 1024
        out.append((int(entry.name), rss, peak))
    return sorted(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serving", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--variants", type=int, default=VARIANTS)
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make reference-tools)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serving-"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "store"
    marker = work / "release.json"
    try:
        made = json.loads(marker.read_text()) if marker.exists() else {}
        if made.get("variants") != args.variants:
            print(f"writing a synthetic release of {args.variants:,} variants ...", flush=True)
            started = time.perf_counter()
            write_synthetic_release(store, args.variants)
            made = {"variants": args.variants, "seconds": time.perf_counter() - started}
            marker.write_text(json.dumps(made))
        if "seconds" in made:
            print(f"release written in {made['seconds']:,.0f} s", flush=True)
        folder = store / "releases" / "r00001"
        shutil.rmtree(store / "releases" / "r00002", ignore_errors=True)
        (store / "releases" / "CURRENT").write_text("r00001\n", encoding="utf-8")
        served = folder / SERVED_DIR
        size = sum(f.stat().st_size for f in served.iterdir())
        index = FrequencyIndex(Release("r00001", folder, {}), BlockCache(64 << 20))
        rows = len(index)
        print(
            f"release: {rows:,} variants x {len(STRATA)} strata, {size / 2**30:.1f} GiB on disk "
            f"({size / rows:.0f} bytes per variant); block index in memory "
            f"{index.variants.index_bytes / 2**20:.0f} MB",
            flush=True,
        )
        opened = open_seconds(folder)
        variants = queried_variants(index, np.random.default_rng(2026))
        del index
        print(f"{WORKERS} workers, wrk {CLIENTS} connections, {RUNS} x {SECONDS} s each ...")
        runs, memory = measure(store, variants, work, inspect=worker_memory)
        port = free_port()
        server = start_server(store, port)
        try:
            switched = switch_seconds(store, port)
        finally:
            stop(server)
        print(
            f"\nServing {rows:,} variants from disk ({len(variants):,} queried, "
            f"~{ABSENT_FRACTION:.0%} absent; registered token, budget and audit on; "
            f"median of {RUNS} runs)"
        )
        for name, done in runs.items():
            p50, p99, rate, cpu = (statistics.median(run[k] for run in done) for k in range(4))
            print(
                f"  {name:<26} p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  {rate:7,.0f} req/s  "
                f"{cpu:4.0f} us server CPU per request"
            )
        for pid, rss, peak in memory:
            print(
                f"  worker {pid}: RSS {rss / 2**20:,.0f} MB (peak {peak / 2**20:,.0f} MB; "
                "target < 4 GiB)"
            )
        print(f"  open the release (block index + first look-up): {opened * 1e3:,.0f} ms")
        print(f"  a running API switches to a new release within {switched * 1e3:,.0f} ms")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
