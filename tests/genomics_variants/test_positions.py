"""Genotypes at named positions, exported from the contribution store to the warehouse,
against the generator's answer key (real PostgreSQL): every planted genotype at a covered
position comes out as planted, every uncovered one as not_covered, and a person with an
opt-out in force is not exported."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.positions import export_genotypes
from genomics_variants.contributions.store import Store
from support.variants import genome_samples
from synthetic_deliveries.genomes import Window, write_genomes
from synthetic_deliveries.planted import load_named_positions

pytestmark = pytest.mark.integration
N_GENOMES = 60
TODAY = date(2026, 6, 1)
COPIES = {"0/0": 0, "0/1": 1, "1/1": 2}


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[tuple[str, str], tuple[str, bool]]]:
    """A delivery of the named-position windows and one short window (fast), LDLR carriers
    planted, and its answer key: (genome_id, variant_key) -> (genotype, covered)."""
    root = tmp_path_factory.mktemp("planted")
    samples = genome_samples(
        N_GENOMES,
        first_birth_year=1950,
        first_serial=300,
        planted={i: "LDLR_c.1775G>A" for i in range(0, N_GENOMES, 7)},
    )
    delivery = write_genomes(
        root / "landing",
        samples,
        seed=4711,
        cutoff=date(2026, 3, 31),
        # A short coalescent window too, so every single-sample VCF has records (an empty
        # one trips the tabix partitioner) and the named windows sit among others.
        windows=(Window("chr17", 43_000_000, 43_029_999),),
        positions=load_named_positions(),
        truth=root / "truth",
    )
    with (root / "truth" / "genome_positions.csv").open(encoding="utf-8", newline="") as fh:
        truth = {
            (r["genome_id"], r["variant_key"]): (r["genotype"], r["covered"] == "true")
            for r in csv.DictReader(fh)
        }
    return delivery, truth


def _exported(url: str) -> dict[tuple[str, str], tuple[str, int | None, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select genome_id, variant_key, callability, alt_copies, person_key "
            "from variants.person_genotypes"
        ).fetchall()
    return {(g, v): (c, a, p) for g, v, c, a, p in rows}


def test_export_matches_the_planted_genotypes(
    db_url: str,
    planted: tuple[Path, dict[tuple[str, str], tuple[str, bool]]],
    key: bytes,
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    delivery, truth = planted
    store = tmp_path / "store"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, "
            "gyldig_fra date, gyldig_til date)"
        )
    result = ingest_files(
        Store(store),
        [delivery],
        delivery / "reference" / "GRCh38_subset.fa.gz",
        key=key,
        warehouse_url=db_url,
        on=TODAY,
        workers=1,
    )
    assert result.added == N_GENOMES
    # Every kind of evidence and both outcomes are exercised by the answer key.
    genotypes = {g for g, _ in truth.values()}
    assert genotypes >= {"0/0", "0/1"}
    assert {c for _, c in truth.values()} == {True, False}

    export = export_genotypes(store, db_url, on=TODAY)
    exported = _exported(db_url)
    assert export.rows == len(exported) == len(truth)
    for cell, (genotype, covered) in truth.items():
        callability, copies, _ = exported[cell]
        if covered:
            assert callability == ("called_variant" if COPIES[genotype] else "called_ref"), cell
            assert copies == COPIES[genotype], cell
        else:
            assert (callability, copies) == ("not_covered", None), cell

    # An opt-out in force: the person's rows go at the next export (replaced in one go).
    opted = next(iter(exported.values()))[2]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into raw.optout__registreringer values (%s, 'genetik', %s, null)",
            (opted, TODAY - timedelta(days=3)),
        )
    again = export_genotypes(store, db_url, on=TODAY)
    after = _exported(db_url)
    assert again.excluded == 1
    assert opted not in {p for _, _, p in after.values()}
    assert len(after) == len(exported) - len(load_named_positions())
