"""Ingest throughput: the full path (read, type, validate with GX, pseudonymise, COPY) against a
bare COPY of the same file into an unconstrained table, in one run on the same warehouse.

    python -m bench.ingest [--rows 10000000]

Prints rows/s of both and their ratio (target: the full path reaches ≥ 70 % of bare COPY).
LPR3 diagnoses carry no CPR (they reference contacts), so pseudonymisation costs nothing
here; the benchmark measures reading, typing, validation and loading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from medfollow_core.landing.contracts import contract_for
from medfollow_core.landing.manifest import write_manifest
from medfollow_core.warehouse.bootstrap import bootstrap
from medfollow_core.warehouse.connection import database_url
from registry_ingest.pipeline import ingest_delivery

_CODES = np.array(["DC833", "DC910", "DC900", "DI109", "DE119", "DJ449", "DZ038", "DM545"])


def write_diagnoses(folder: Path, rows: int, seed: int = 7) -> Path:
    """An LPR3 delivery whose diagnoses file has ``rows`` rows (other tables empty)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    chunk = 1_000_000
    path = folder / "diagnoser.csv"
    options = pacsv.WriteOptions(delimiter=";", quoting_style="none")
    with pacsv.CSVWriter(
        path,
        pa.schema(
            [
                (n, pa.string())
                for n in ("dw_ek_kontakt", "diagnosekode", "diagnosetype", "senere_afkraeftet")
            ]
        ),
        write_options=options,
    ) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            contacts = np.char.add("K", (np.arange(start, start + n) // 2).astype("U10"))
            writer.write_table(
                pa.table(
                    {
                        "dw_ek_kontakt": contacts,
                        "diagnosekode": _CODES[rng.integers(0, len(_CODES), n)],
                        "diagnosetype": np.where(np.arange(n) % 2 == 0, "A", "B"),
                        "senere_afkraeftet": np.where(rng.random(n) < 0.02, "Ja", "Nej"),
                    }
                )
            )
    contract = contract_for("lpr3")
    for table in contract.tables:
        if table.name != "diagnoser":
            (folder / table.file).write_text(";".join(c.name for c in table.columns) + "\n")
    files = [(t.file, t.name, rows if t.name == "diagnoser" else 0) for t in contract.tables]
    write_manifest(
        folder, source="lpr3", delivery_id=folder.name, cutoff_date=date(2026, 9, 30), files=files
    )
    return path


def bare_copy(url: str, path: Path) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists public.bench_bare_copy")
        conn.execute(
            "create table public.bench_bare_copy (dw_ek_kontakt text, "
            "diagnosekode text, diagnosetype text, senere_afkraeftet text)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy public.bench_bare_copy from stdin (format csv, delimiter ';', header)"
            ) as copy,
            path.open("rb") as fh,
        ):
            while block := fh.read(8 << 20):
                copy.write(block)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("drop table public.bench_bare_copy")
    return elapsed


def full_path(url: str, folder: Path, gx_dir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    outcome = ingest_delivery(folder, url=url, key=bytes(32), gx_dir=gx_dir)
    elapsed = time.perf_counter() - started
    if outcome.status != "loaded":
        raise SystemExit(f"full path did not load: {outcome.summary()}")
    return elapsed, outcome.rows_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    url = database_url()
    bootstrap(url)
    import great_expectations  # noqa: F401 - import cost is not ingest throughput

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp) / "lpr3" / f"lpr3-bench-{time.time_ns()}"
        print(f"writing {args.rows:,} LPR3 diagnoses ...", flush=True)
        path = write_diagnoses(folder, args.rows)
        size = path.stat().st_size / 2**20
        bare = bare_copy(url, path)
        full, loaded = full_path(url, folder, Path(tmp) / "gx")
        with psycopg.connect(url) as conn:  # leave the warehouse as it was
            conn.execute("delete from raw.lpr3__diagnoser where _delivery_id = %s", (folder.name,))
            conn.execute("delete from audit.deliveries where delivery_id = %s", (folder.name,))
    print(f"\nLPR3 diagnoses, {args.rows:,} rows, {size:,.0f} MiB CSV")
    print(
        f"  bare COPY (text columns, no checks) : {bare:7.1f} s  {args.rows / bare:12,.0f} rows/s"
    )
    print(f"  medfollow full path                 : {full:7.1f} s  {loaded / full:12,.0f} rows/s")
    print(f"  ratio full/bare                     : {bare / full:7.2f}  (target ≥ 0.70)")


if __name__ == "__main__":
    main()
