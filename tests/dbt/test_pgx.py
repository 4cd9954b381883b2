"""Pharmacogenetic phenotypes end to end on a real PostgreSQL: a generated genome delivery
with planted CPIC alleles is ingested, its genotypes exported from the contribution store,
and dbt builds fct_pgx_phenotypes; every diplotype the generator planted is classified as
an independent reading of the CPIC tables says, every gene with an uncovered defining
position is indeterminate, and a person who opts out after the export is left out.

Built on its own small delivery rather than the 3,000-person world of test_marts.py: only
the genome delivery, the opt-out register and linkage's succession function are needed,
which keeps this module to seconds.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from itertools import combinations_with_replacement

import psycopg
import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.positions import export_genotypes
from genomics_variants.contributions.store import Store
from medicinraadet_release.audit import pgx_findings
from medicinraadet_release.exports import store_exports
from medicinraadet_release.pgx import protect_pgx, read_pgx_labels, read_pgx_truth
from support.marts import PGX_UNIT_TESTS, rows, run_dbt
from support.variants import genome_samples
from synthetic_deliveries.genomes import Window, write_genomes
from synthetic_deliveries.planted import load_named_positions

pytestmark = pytest.mark.integration
N_GENOMES = 120
TODAY = date.today()

# The CPIC reading this test checks against, written out by hand (allele -> variants in
# cis, function or DPYD activity value), independent of the seeds the models read.
ALLELES: dict[str, dict[str, tuple[frozenset[str], str]]] = {
    "CYP2C19": {
        "*1": (frozenset(), "N"),
        "*2": (frozenset({"CYP2C19_c.681G>A"}), "0"),
        "*3": (frozenset({"CYP2C19_c.636G>A"}), "0"),
        "*17": (frozenset({"CYP2C19_c.-806C>T"}), "I"),
    },
    "TPMT": {
        "*1": (frozenset(), "N"),
        "*2": (frozenset({"TPMT_c.238G>C"}), "0"),
        "*3A": (frozenset({"TPMT_c.460G>A", "TPMT_c.719A>G"}), "0"),
        "*3B": (frozenset({"TPMT_c.460G>A"}), "0"),
        "*3C": (frozenset({"TPMT_c.719A>G"}), "0"),
    },
    "NUDT15": {"*1": (frozenset(), "N"), "*3": (frozenset({"NUDT15_c.415C>T"}), "0")},
    "SLCO1B1": {"*1": (frozenset(), "N"), "c.521C": (frozenset({"SLCO1B1_c.521T>C"}), "D")},
    "DPYD": {
        "Reference": (frozenset(), "1"),
        "*2A": (frozenset({"DPYD_c.1905+1G>A"}), "0"),
        "*13": (frozenset({"DPYD_c.1679T>G"}), "0"),
        "c.2846A>T": (frozenset({"DPYD_c.2846A>T"}), "0.5"),
        "HapB3": (frozenset({"DPYD_c.1129-5923C>G"}), "0.5"),
    },
}
METABOLIZER = {
    "NN": "Normal Metabolizer",
    "IN": "Rapid Metabolizer",
    "II": "Ultrarapid Metabolizer",
    "0N": "Intermediate Metabolizer",
    "0I": "Intermediate Metabolizer",
    "00": "Poor Metabolizer",
}
TRANSPORTER = {"NN": "Normal Function", "DN": "Decreased Function", "DD": "Poor Function"}
COPIES = {"0/0": 0, "0/1": 1, "1/1": 2}


def expected_phenotype(gene: str, copies: dict[str, int]) -> str:
    """The phenotype of the most parsimonious allele pair explaining the ALT copies."""
    alleles = ALLELES[gene]
    fits = []
    for a, b in combinations_with_replacement(alleles, 2):
        carried = defaultdict(int)
        for name in (a, b):
            for key in alleles[name][0]:
                carried[key] += 1
        if all(carried[key] == n for key, n in copies.items()):
            fits.append((bool(alleles[a][0]) + bool(alleles[b][0]), a, b))
    _, a, b = min(fits)
    fa, fb = alleles[a][1], alleles[b][1]
    if gene == "DPYD":
        score = float(fa) + float(fb)
        return (
            "Normal Metabolizer"
            if score == 2
            else "Intermediate Metabolizer"
            if score >= 1
            else "Poor Metabolizer"
        )
    pair = "".join(sorted(fa + fb))
    return (TRANSPORTER if gene == "SLCO1B1" else METABOLIZER)[pair]


@pytest.fixture(scope="module")
def built(db_url: str, key: bytes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("pgx")
    samples = genome_samples(N_GENOMES, first_birth_year=1945, first_serial=500)
    delivery = write_genomes(
        root / "landing",
        samples,
        seed=2718,
        cutoff=date(2026, 3, 31),
        windows=(Window("chr17", 43_000_000, 43_029_999),),
        positions=load_named_positions(),
        truth=root / "truth",
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, "
            "gyldig_fra date, gyldig_til date, _delivery_id text)"
        )
    store = root / "store"
    ingest_files(
        Store(store),
        [delivery],
        delivery / "reference" / "GRCh38_subset.fa.gz",
        key=key,
        warehouse_url=db_url,
        on=TODAY,
        workers=1,
    )
    export_genotypes(store, db_url, on=TODAY)
    # An opt-out registered after the export: the marts must leave the person out anyway.
    genome, opted = rows(
        db_url, "select genome_id, person_key from variants.person_genotypes order by 1 limit 1"
    )[0].values()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into raw.optout__registreringer values (%s, 'genetik', %s, null, 'o-1')",
            (opted, TODAY - timedelta(days=1)),
        )
    # Prescriptions and hospital administrations of paired drugs for every other person.
    people = [
        r["person_key"]
        for r in rows(db_url, "select distinct person_key from variants.person_genotypes")
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.lmdb__ekspeditioner (person_key text, eksd date, atc text, "
            "vnr text, apk numeric, _delivery_id text, _row_number bigint)"
        )
        conn.execute(
            "create table raw.sygehusmedicin__administrationer (person_key text, adm_dato date, "
            "atc text, produktnavn text, dosis numeric, enhed text, afdeling text, region text, "
            "_delivery_id text, _row_number bigint)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into raw.lmdb__ekspeditioner values (%s, %s, %s, '1', 1, 'lmdb-1', %s)",
                [
                    (person, date(2024 + i % 2, 3, 1), atc, 2 * i + j)
                    for i, person in enumerate(people[::2])
                    for j, atc in enumerate(("C10AA01", "L04AX01"))
                ],
            )
            cur.executemany(
                "insert into raw.sygehusmedicin__administrationer values "
                "(%s, %s, 'B01AC04', 'x', 75, 'mg', 'a', '1084', 'sgm-1', %s)",
                [(person, date(2025, 5, 2), i) for i, person in enumerate(people[1::2])],
            )
    build = run_dbt(
        db_url,
        [
            "build",
            "--select",
            "+fct_pgx_phenotypes",
            "+fct_pgx_exposure",
            "+pgx_actionable_exposures",
            # Singular tests of other marts need sources this module does not load.
            "--exclude",
            "test_type:singular",
        ],
        root / "dbt",
    )
    with (root / "truth" / "genome_positions.csv").open(encoding="utf-8", newline="") as fh:
        truth = list(csv.DictReader(fh))
    return {"build": build, "truth": truth, "opted_genome": genome, "url": db_url}


def test_the_build_passes(built: dict[str, object]) -> None:
    build = built["build"]
    assert build.success, (build.failures(), build.exception)  # type: ignore[attr-defined]
    statuses = build.statuses  # type: ignore[attr-defined]
    assert {name: statuses.get(name) for name in PGX_UNIT_TESTS} == dict.fromkeys(
        PGX_UNIT_TESTS, "pass"
    )


def test_every_planted_diplotype_is_classified(built: dict[str, object]) -> None:
    genes = {
        key: gene for gene, alleles in ALLELES.items() for a in alleles.values() for key in a[0]
    }
    planted: dict[tuple[str, str], dict[str, tuple[int, bool]]] = defaultdict(dict)
    for row in built["truth"]:  # type: ignore[attr-defined]
        gene = genes.get(row["variant_key"])
        if gene:
            planted[(row["genome_id"], gene)][row["variant_key"]] = (
                COPIES[row["genotype"]],
                row["covered"] == "true",
            )
    marts = {
        (r["genome_id"], r["gene"]): r
        for r in rows(str(built["url"]), "select * from marts.fct_pgx_phenotypes")
    }
    opted = built["opted_genome"]
    assert not any(genome == opted for genome, _ in marts)
    seen: dict[str, set[str]] = defaultdict(set)
    indeterminate = 0
    for (genome, gene), cells in planted.items():
        if genome == opted:
            continue
        row = marts[(genome, gene)]
        if all(covered for _, covered in cells.values()):
            expected = expected_phenotype(gene, {k: n for k, (n, _) in cells.items()})
            assert row["phenotype"] == expected, (genome, gene, cells, row)
            seen[gene].add(expected)
        else:
            assert row["phenotype"] == "indeterminate" and row["diplotype"] is None, row
            indeterminate += 1
    assert len(marts) == len(planted) - len(ALLELES)
    assert indeterminate > 0
    # Every gene has persons with a non-normal phenotype in the generated cohort.
    for gene, phenotypes in seen.items():
        assert phenotypes - {"Normal Metabolizer", "Normal Function"}, gene


def test_exposures_carry_the_phenotype_and_the_cpic_class(built: dict[str, object]) -> None:
    url = str(built["url"])
    exposures = rows(url, "select * from marts.fct_pgx_exposure")
    phenotypes = {
        (r["person_key"], r["gene"]): r["phenotype"]
        for r in rows(url, "select * from marts.fct_pgx_phenotypes")
    }
    opted = rows(url, "select person_key from staging.int_genetic_optouts_in_force")
    assert exposures and opted
    assert not {r["person_key"] for r in opted} & {r["person_key"] for r in exposures}
    # Azathioprine pairs with TPMT and NUDT15: two rows per dispensing.
    genes = defaultdict(set)
    for r in exposures:
        assert r["phenotype"] == phenotypes[(r["person_key"], r["gene"])]
        genes[r["drug"]].add(r["gene"])
        if r["phenotype"] == "indeterminate":
            assert r["recommendation_class"] is None and not r["is_actionable"]
        else:
            assert r["is_actionable"] == (r["recommendation_class"] != "standard dosing")
    assert genes == {
        "simvastatin": {"SLCO1B1"},
        "azathioprine": {"TPMT", "NUDT15"},
        "clopidogrel": {"CYP2C19"},
    }
    assert {r["recommendation_class"] for r in exposures if r["is_actionable"]} >= {
        "alternative drug"
    }
    # The export has every actionable cell, labels only until the release protects it.
    counts = rows(url, "select * from staging.int_pgx__actionable_exposure_counts")
    export = rows(url, "select * from exports.pgx_actionable_exposures")
    actionable = [r for r in exposures if r["is_actionable"]]
    totals = [c for c in counts if c["period"] == "total"]
    assert sum(c["exposures"] for c in totals) == len(actionable)
    assert sum(c["exposures"] for c in counts if c["period"] != "total") == len(actionable)
    assert len(export) == len(counts)
    assert all(r["persons"] is None and r["exposures"] is None for r in export)


def test_the_release_step_protects_and_fills_the_pgx_export(built: dict[str, object]) -> None:
    """The release's pgx part on this warehouse (write_release as a whole needs the
    Medicinrådet marts, built in test_exports.py): the staging counts are linked as the
    protection assumes, and the protected table passes the audit and fills the export."""
    url = str(built["url"])
    with psycopg.connect(url) as conn:
        truth = read_pgx_truth(conn)
        columns, labels = read_pgx_labels(conn)
        protected = protect_pgx(truth, labels, columns, 5)
        assert pgx_findings(protected.table, truth, 5) == []
        store_exports(conn, [protected.table])
    assert truth
    for group in truth.values():
        years = [p for p in group.periods if p != "total"]
        for measure in ("persons", "exposures"):
            assert (
                sum(group.values[(y, measure)] for y in years) == group.values[("total", measure)]
            )
        for period in group.periods:
            assert group.values[(period, "persons")] <= group.values[(period, "exposures")]
    filled = rows(url, "select * from exports.pgx_actionable_exposures")
    assert len(filled) == len(protected.table.rows) > 0
    for row in filled:
        for measure in ("persons", "exposures"):
            value = row[measure]
            assert value in ("<5", "≤4", "x") or (value.isdigit() and not 1 <= int(value) < 5)
