"""Linkage speed and quality: an extract without CPR against a national-size spine.

    python -m bench.linkage [--spine 1000000] [--extract 100000] [--seed 1] [--warehouse]

The spine is the synthetic generator's population (Danish names with æ/ø/å, double
surnames, middle names, realistic birth dates, postcodes and municipalities). The extract
is written the way cross-border outcome extracts arrive: 90 % of its records are spine
persons seen through a foreign system — middle names dropped or merged into the first
name, hyphens lost, æ/ø/å transliterated (or the reverse), one-letter typos, day and month
swapped, one-digit date slips, postcodes and municipalities missing — and 10 % are people
the spine does not know. The linkage itself is timed (normalise, train u and m, score,
decide); target: under 5 minutes on 2 cores. ``--warehouse`` also times a complete
``linkage run`` in a throw-away database on the configured warehouse server (read the raw
tables, link, publish a million and more person_links). Prints the time per stage and
precision, recall and F1 against the known truth.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa

from medfollow_core.landing.contracts import contract_for
from medfollow_core.warehouse.bootstrap import bootstrap
from medfollow_core.warehouse.connection import database_url
from medfollow_core.warehouse.copy import copy_table
from registry_ingest.load import ensure_tables, raw_name
from rwd_linkage.decide import Thresholds, decide
from rwd_linkage.keys import Minter
from rwd_linkage.persons import Demographics
from rwd_linkage.probabilistic import score_extracts
from rwd_linkage.quality import extract_metrics, true_counts
from rwd_linkage.run import run_linkage
from synthetic_deliveries import geography, names
from synthetic_deliveries.population import build_population
from synthetic_deliveries.typos import danicise, one_letter_typo, transliterate

SOURCE = "outcomes_crossborder__patients"
KEY = b"bench-key-not-secret-0123456789ab"
EXTRACT = Demographics(
    record_id="foreign_patient_id",
    first_names="fornavn",
    surname="efternavn",
    birth_date="foedselsdato",
    sex="koen",
    postcode="postnr",
    municipality="kommune",
)
OUTSIDE_SHARE = 0.10


def make_spine(persons: int, seed: int) -> pa.Table:
    pop = build_population(np.random.default_rng(seed), persons, date(2026, 9, 30))
    births = pop.birth.astype("datetime64[D]").astype(str)
    return pa.table(
        {
            "person_key": pa.array([f"P{i:08d}" for i in range(persons)], pa.string()),
            "fornavn": pop.fornavn,
            "mellemnavn": pop.mellemnavn,
            "efternavn": pop.efternavn,
            "foedselsdato": pa.array(births, pa.string()),
            "koen": pa.array(pop.sex.astype(str), pa.string()),
            "postnr": pa.array([f"{p:04d}" for p in pop.postnr], pa.string()),
            "kommune": pa.array([f"{k:03d}" for k in pop.kommune], pa.string()),
        }
    )


def make_extract(
    spine: pa.Table, records: int, seed: int
) -> tuple[pa.Table, dict[str, str | None]]:
    """Corrupted copies of spine persons plus strangers; returns the rows and the truth."""
    rng = np.random.default_rng(seed + 1)
    inside = int(records * (1 - OUTSIDE_SHARE))
    picked = rng.choice(spine.num_rows, size=inside, replace=False)
    people = spine.take(pa.array(picked)).to_pylist()
    rows, truth = [], {}
    for i, person in enumerate(people):
        rid = f"X{i:07d}"
        rows.append({"foreign_patient_id": rid, **_corrupt(rng, person)})
        truth[rid] = person["person_key"]
    for i in range(records - inside):
        rid = f"Y{i:07d}"
        rows.append({"foreign_patient_id": rid, **_corrupt(rng, _stranger(rng))})
        truth[rid] = None
    columns = (
        "foreign_patient_id",
        "fornavn",
        "efternavn",
        "foedselsdato",
        "koen",
        "postnr",
        "kommune",
    )
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns}), truth


def _stranger(rng: np.random.Generator) -> dict[str, str | None]:
    sex = int(rng.integers(1, 3))
    first = names.MALE_FIRST if sex == 1 else names.FEMALE_FIRST
    born = np.datetime64("1930-01-01") + np.timedelta64(int(rng.integers(0, 90 * 365)), "D")
    _, _, postnr = geography.draw_residence(rng, 1)
    return {
        "fornavn": first[int(rng.integers(0, len(first)))],
        "mellemnavn": None,
        "efternavn": names.SURNAMES[int(rng.integers(0, len(names.SURNAMES)))][0],
        "foedselsdato": str(born),
        "koen": str(sex),
        "postnr": f"{postnr[0]:04d}",
        "kommune": None,
    }


def _corrupt(rng: np.random.Generator, person: dict[str, str | None]) -> dict[str, str | None]:
    first, middle, last = person["fornavn"] or "", person["mellemnavn"], person["efternavn"] or ""
    if middle and rng.random() < 0.5:
        first = f"{first} {middle}"
    if "-" in last and rng.random() < 0.5:
        last = last.replace("-", " ")
    if any(ch in first + last for ch in "æøåÆØÅ") and rng.random() < 0.5:
        first, last = transliterate(first), transliterate(last)
    elif rng.random() < 0.05:
        first, last = danicise(first), danicise(last)
    if rng.random() < 0.1:
        if rng.random() < 0.5:
            first = one_letter_typo(rng, first)
        else:
            last = one_letter_typo(rng, last)
    year, month, day = (int(p) for p in str(person["foedselsdato"]).split("-"))
    if day <= 12 and day != month and rng.random() < 0.08:
        day, month = month, day
    elif rng.random() < 0.05:
        if rng.random() < 0.5 and 2 <= day <= 27:
            day += int(rng.choice([-1, 1]))
        else:
            year += int(rng.choice([-1, 1]))
    return {
        "fornavn": first,
        "efternavn": last,
        "foedselsdato": f"{day:02d}-{month:02d}-{year:04d}",
        "koen": "M" if person["koen"] == "1" else "F",
        "postnr": None if rng.random() < 0.08 else person["postnr"],
        "kommune": None if rng.random() < 0.2 else person["kommune"],
    }


def link_in_memory(spine: pa.Table, extract: pa.Table, truth: dict[str, str | None]) -> None:
    start = time.perf_counter()
    last = start

    def stage(label: str) -> None:
        nonlocal last
        now = time.perf_counter()
        print(f"  {now - start:6.1f} s  (+{now - last:5.1f})  {label}", flush=True)
        last = now

    scored = score_extracts(spine, {SOURCE: (EXTRACT, extract)}, progress=stage)
    stage(f"scored: {len(scored.candidates):,} candidate pairs kept")
    outcome = decide(
        [(SOURCE, r) for r in truth],
        scored.candidates,
        thresholds=Thresholds(),
        decisions={},
        prior={},
        in_spine=lambda _key: True,
        one_to_one={SOURCE},
        mint=Minter(KEY),
    )
    stage("decided")
    report(
        f"in memory, {extract.num_rows:,} records against {spine.num_rows:,} persons",
        time.perf_counter() - start,
        extract_metrics(SOURCE, outcome, truth),
    )


def link_in_warehouse(spine: pa.Table, extract: pa.Table, truth: dict[str, str | None]) -> None:
    """A full `linkage run` on a throw-away database next to the configured warehouse."""
    server = urlsplit(database_url())
    name = f"medfollow_bench_linkage_{time.time_ns()}"
    admin = urlunsplit(server._replace(path="/postgres"))
    url = urlunsplit(server._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        bootstrap(url)
        _load_raw(
            url, "cpr", "persons", spine.append_column("status", pa.array(["01"] * spine.num_rows))
        )
        _load_raw(url, "outcomes_crossborder", "patients", extract)
        with tempfile.TemporaryDirectory() as state:
            start = time.perf_counter()
            result = run_linkage(
                url,
                KEY,
                state_dir=Path(state),
                progress=lambda label, done, total: print(
                    f"  {time.perf_counter() - start:6.1f} s  [{done}/{total}] {label}", flush=True
                ),
            )
            elapsed = time.perf_counter() - start
        with psycopg.connect(url) as conn:
            linked = dict(
                conn.execute(
                    "select record_id, person_key from linkage.person_links "
                    "where source = %s and method <> 'minted'",
                    (SOURCE,),
                ).fetchall()
            )
        counts = true_counts(linked, truth)
        report(
            f"warehouse run, {extract.num_rows:,} records against {spine.num_rows:,} persons",
            elapsed,
            {
                **result.metrics[SOURCE],
                "true_precision": counts.precision,
                "true_recall": counts.recall,
                "true_f1": counts.f1,
            },
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _load_raw(url: str, source: str, table_name: str, data: pa.Table) -> None:
    contract = contract_for(source)
    table = contract.table(table_name)
    data = data.append_column("_delivery_id", pa.array([f"{source}-bench"] * data.num_rows))
    if table.numbered:
        data = data.append_column("_row_number", pa.array(np.arange(1, data.num_rows + 1)))
    with psycopg.connect(url) as conn:
        ensure_tables(conn, contract)
        copy_table(conn, raw_name(contract, table), data)


def report(what: str, seconds: float, figures: dict[str, float]) -> None:
    print(f"{what}: {seconds:.1f} s ({'within' if seconds < 300 else 'OVER'} the 5-minute target)")
    print(
        f"  true precision {figures['true_precision']:.4f}  recall {figures['true_recall']:.4f}  "
        f"F1 {figures['true_f1']:.4f}  (automatic links only)"
    )
    if "true_f1_if_reviewed" in figures:
        print(
            f"  {figures['review_queue_records']:,.0f} records in review; F1 if reviewers pick the "
            f"listed true candidate: {figures['true_f1_if_reviewed']:.4f}"
        )
    print(
        f"  model estimates: precision {figures['estimated_precision']:.4f}  "
        f"recall {figures['estimated_recall']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spine", type=int, default=1_000_000)
    parser.add_argument("--extract", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warehouse",
        action="store_true",
        help="also time a full `linkage run` in a throw-away database",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    spine = make_spine(args.spine, args.seed)
    extract, truth = make_extract(spine, args.extract, args.seed)
    print(
        f"data: {spine.num_rows:,} spine persons, {extract.num_rows:,} extract records "
        f"({time.perf_counter() - t0:.1f} s, not timed)"
    )
    link_in_memory(spine, extract, truth)
    if args.warehouse:
        link_in_warehouse(spine, extract, truth)


if __name__ == "__main__":
    main()
