"""Ingest throughput: the full path (read, type, validate with GX, pseudonymise, COPY) against a
bare COPY of the same file into an unconstrained table, in one run on the same warehouse.

    python -m bench.ingest [--rows 10000000] [--rounds 3]

Prints rows/s of both and their ratio (target: the full path reaches ≥ 70 % of bare COPY),
best of ``--rounds`` runs taken in turn; also what bare COPY gives into a table created in the
same transaction with FREEZE (as the full path writes each delivery's table) and from
PostgreSQL's binary COPY format, and how long the server alone takes to store the full path's
typed rows in a delivery table: as LPR3 diagnoses are stored (no lineage in any row), and
with a row number in every row, as a numbered table (lab results, dispensings) stores them.
LPR3 diagnoses carry no CPR (they reference contacts), so pseudonymisation costs nothing
here; the benchmark measures reading, typing, validation and loading.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from medfollow_core.landing.contracts import contract_for
from medfollow_core.landing.manifest import write_manifest
from medfollow_core.warehouse.bootstrap import bootstrap
from medfollow_core.warehouse.connection import database_url
from registry_ingest.load import (
    attach_delivery_table,
    create_delivery_table,
    delivery_table_name,
    ensure_tables,
)
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


_BARE = "public.bench_bare_copy"
_COLUMNS = "dw_ek_kontakt text, diagnosekode text, diagnosetype text, senere_afkraeftet text"


def _stream(conn: psycopg.Connection, statement: str | sql.Composed, path: Path) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy, path.open("rb") as fh:
        while block := fh.read(8 << 20):
            copy.write(block)


def checkpoint(url: str) -> None:
    """Write every dirty page out before a timed load, so that no load pays for the previous
    one's checkpoint: each load writes more WAL than ``max_wal_size`` lets pass between
    checkpoints, and whichever load a checkpoint fell into ran up to a third slower."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def bare_copy(url: str, path: Path, *, freeze: bool = False, binary: Path | None = None) -> float:
    """Seconds to COPY the file into an unconstrained table of text columns.

    The reference is a table created beforehand, as any load into an existing table; with
    ``freeze`` the table is created in the COPY's transaction and the rows written frozen, as
    the full path writes a delivery's table; with ``binary`` the rows come from a file in
    PostgreSQL's binary COPY format (what a client-side Arrow → binary encoder would send).
    """
    with psycopg.connect(url) as conn:
        conn.execute(f"drop table if exists {_BARE}")
        if not freeze:
            conn.execute(f"create table {_BARE} ({_COLUMNS})")
            conn.commit()
        started = time.perf_counter()
        if freeze:
            conn.execute(f"create table {_BARE} ({_COLUMNS})")
        options = "format csv, delimiter ';', header" if binary is None else "format binary"
        _stream(
            conn,
            f"copy {_BARE} from stdin ({options}{', freeze' if freeze else ''})",
            binary or path,
        )
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute(f"drop table {_BARE}")
    return elapsed


def binary_file(url: str, path: Path, target: Path) -> Path:
    """The file's rows in PostgreSQL's binary COPY format, written by the server itself."""
    with psycopg.connect(url) as conn:
        conn.execute(f"drop table if exists {_BARE}")
        conn.execute(f"create table {_BARE} ({_COLUMNS})")
        _stream(conn, f"copy {_BARE} from stdin (format csv, delimiter ';', header)", path)
        with (
            conn.cursor() as cur,
            cur.copy(f"copy {_BARE} to stdout (format binary)") as copy,
            target.open("wb") as out,
        ):
            for block in copy:
                out.write(block)
        conn.execute(f"drop table {_BARE}")
    return target


def typed_rows(path: Path, target: Path, *, numbered: bool) -> list[str]:
    """The diagnoses as the full path COPYs them (contract-typed; with ``numbered``, each
    with its row in the file, as a numbered table's rows) rendered once to a CSV file;
    returns its columns. Rendering is client work, so it is not timed."""
    data = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=";"),
        convert_options=pacsv.ConvertOptions(
            column_types={"senere_afkraeftet": pa.bool_()},
            true_values=["Ja"],
            false_values=["Nej"],
            strings_can_be_null=True,
        ),
    )
    if numbered:
        data = data.append_column("_row_number", pa.array(np.arange(1, data.num_rows + 1)))
    pacsv.write_csv(data, target, pacsv.WriteOptions(include_header=False))
    return data.column_names


def server_side(url: str, rows: Path, columns: list[str], *, numbered: bool) -> float:
    """Seconds the server needs to store the full path's rows, the client's work done before:
    a delivery table made in the transaction, COPY FREEZE, delivery id and load time
    attached once in the catalogue, as the loader stores them; with ``numbered`` the table
    also stores each row's number, as a numbered table's delivery table does. Rolled back:
    the warehouse is left as it was.
    """
    contract = contract_for("lpr3")
    table = contract.table("diagnoser")
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    with psycopg.connect(url) as conn:
        ensure_tables(conn, contract)
        conn.commit()
        started = time.perf_counter()
        target, _ = create_delivery_table(conn, contract, table, 0)
        if numbered:
            conn.execute(
                sql.SQL("alter table {} add column _row_number bigint not null").format(target)
            )
        statement = sql.SQL("copy {} ({}) from stdin (format csv, freeze)")
        _stream(conn, statement.format(target, names), rows)
        attach_delivery_table(conn, contract, table, target, "lpr3-bench")
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


def full_path(url: str, folder: Path, gx_dir: Path, rows: int) -> float:
    """Seconds of one load of the delivery, which is then forgotten (its tables,
    audit rows and GX project go), so that every round loads it as new: a GX project kept
    from the round before would make each round's Data Docs render all earlier rounds'
    validation results too."""
    started = time.perf_counter()
    outcome = ingest_delivery(folder, url=url, key=bytes(32), gx_dir=gx_dir)
    elapsed = time.perf_counter() - started
    if outcome.status != "loaded":
        raise SystemExit(f"full path did not load: {outcome.summary()}")
    if outcome.rows_loaded != rows:
        raise SystemExit(f"full path loaded {outcome.rows_loaded:,} rows: {outcome.summary()}")
    forget_delivery(url, folder.name)
    shutil.rmtree(gx_dir)
    return elapsed


def forget_delivery(url: str, delivery_id: str) -> None:
    """Leave the warehouse as it was: the delivery's tables and audit rows go."""
    contract = contract_for("lpr3")
    with psycopg.connect(url) as conn:
        attempts = conn.execute(
            "delete from audit.deliveries where delivery_id = %s returning attempt_id",
            (delivery_id,),
        ).fetchall()
        for (attempt_id,) in attempts:
            for table in contract.tables:
                conn.execute(
                    sql.SQL("drop table if exists {}").format(
                        delivery_table_name(contract, table, attempt_id)
                    )
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="bare COPY and full path, in turn")
    args = parser.parse_args()
    url = database_url()
    bootstrap(url)
    import great_expectations  # noqa: F401 - import cost is not ingest throughput

    times: dict[str, list[float]] = {
        k: [] for k in ("bare", "full", "freeze", "binary", "server", "numbered")
    }
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp) / "lpr3" / f"lpr3-bench-{time.time_ns()}"
        print(f"writing {args.rows:,} LPR3 diagnoses ...", flush=True)
        path = write_diagnoses(folder, args.rows)
        size = path.stat().st_size / 2**20
        binary = binary_file(url, path, Path(tmp) / "diagnoser.bin")
        typed = Path(tmp) / "typed.csv"
        typed_columns = typed_rows(path, typed, numbered=False)
        numbered = Path(tmp) / "typed_numbered.csv"
        numbered_columns = typed_rows(path, numbered, numbered=True)
        for round_ in range(1, args.rounds + 1):
            measurements: dict[str, Callable[[], float]] = {
                "bare": lambda: bare_copy(url, path),
                "full": lambda: full_path(url, folder, Path(tmp) / "gx", args.rows),
                "freeze": lambda: bare_copy(url, path, freeze=True),
                "binary": lambda: bare_copy(url, path, binary=binary),
                "server": lambda: server_side(url, typed, typed_columns, numbered=False),
                "numbered": lambda: server_side(url, numbered, numbered_columns, numbered=True),
            }
            for key, measure in measurements.items():
                checkpoint(url)
                times[key].append(measure())
            full = times["full"][-1]
            print(
                f"  round {round_}: bare {times['bare'][-1]:.1f} s, full {full:.1f} s "
                f"(ratio {times['bare'][-1] / full:.2f}), bare FREEZE {times['freeze'][-1]:.1f} s, "
                f"bare binary {times['binary'][-1]:.1f} s, typed rows into a delivery table "
                f"{times['server'][-1]:.1f} s (numbered {times['numbered'][-1]:.1f} s)",
                flush=True,
            )
    best = {k: min(v) for k, v in times.items()}
    ratios = sorted(b / f for b, f in zip(times["bare"], times["full"], strict=True))
    print(f"\nLPR3 diagnoses, {args.rows:,} rows, {size:,.0f} MiB CSV, best of {args.rounds}")
    for label, key in (
        ("bare COPY (text columns, no checks)", "bare"),
        ("bare COPY FREEZE, table made in txn", "freeze"),
        ("bare binary COPY (server side only)", "binary"),
        ("server: typed rows → delivery table", "server"),
        ("server: typed rows, numbered", "numbered"),
    ):
        print(f"  {label:38}: {best[key]:7.1f} s  {args.rows / best[key]:12,.0f} rows/s")
    print(
        f"  {'medfollow full path':38}: {best['full']:7.1f} s  {args.rows / best['full']:12,.0f} rows/s"
    )
    print(
        f"  ratio full/bare (best of each)        : {best['bare'] / best['full']:7.2f}  "
        f"(target ≥ 0.70; per round, median {ratios[len(ratios) // 2]:.2f}, "
        f"range {ratios[0]:.2f}–{ratios[-1]:.2f})"
    )
    print(f"  ratio full/bare FREEZE (best of each) : {best['freeze'] / best['full']:7.2f}")


if __name__ == "__main__":
    main()
