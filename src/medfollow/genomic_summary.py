"""The demo's genomic follow-up summary: what the FH and pharmacogenetic marts found, set
against the synthetic generator's answer key.

The answer key names persons by the generator's person id and their CPR numbers; the marts
by pseudonym. The summary pseudonymises the key's CPR numbers with the deployment's key to
compare, and prints counts only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from medfollow_core.pseudonymise import Pseudonymiser, load_key
from medfollow_core.warehouse.catalog import table_exists
from medfollow_core.warehouse.connection import connect


@dataclass(frozen=True)
class GenomicFollowUp:
    """Counts for the demo's summary table (None: the mart or the answer key is missing)."""

    fh_probable_or_definite: int | None
    fh_carriers_measured: int | None
    fh_carriers_measured_found: int | None
    fh_cascade_relatives: int | None
    pgx_actionable_exposures: int | None
    pgx_persons_exposed: int | None
    genotype_calls_checked: int | None
    genotype_calls_agreeing: int | None

    def rows(self) -> list[tuple[str, str]]:
        def shown(value: int | None) -> str:
            return "-" if value is None else f"{value:,}"

        return [
            ("FH cases found, probable or definite (DLCN)", shown(self.fh_probable_or_definite)),
            (
                "FH carriers generated with LDL measured / found at least 'possible'",
                f"{shown(self.fh_carriers_measured)} / {shown(self.fh_carriers_measured_found)}",
            ),
            ("first-degree relatives for cascade screening", shown(self.fh_cascade_relatives)),
            (
                "actionable gene-drug exposures (CPIC) / persons",
                f"{shown(self.pgx_actionable_exposures)} / {shown(self.pgx_persons_exposed)}",
            ),
            (
                "genotypes at named positions agreeing with the generator",
                f"{shown(self.genotype_calls_agreeing)} of {shown(self.genotype_calls_checked)}",
            ),
        ]


def genomic_follow_up(url: str, ground_truth: Path) -> GenomicFollowUp:
    """What the marts found and how it compares with the answer key under `ground_truth`."""
    pseudonym = Pseudonymiser(load_key())
    with connect(url) as conn:

        def scalar(query: str, table: str) -> int | None:
            if not table_exists(conn, table):
                return None
            row = conn.execute(query).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        found = scalar(
            "select count(*) from marts.fct_fh_case_finding "
            "where dlcn_category in ('probable', 'definite')",
            "marts.fct_fh_case_finding",
        )
        cascade = scalar("select count(*) from marts.fct_fh_cascade", "marts.fct_fh_cascade")
        exposures = scalar(
            "select count(*) from marts.fct_pgx_exposure where is_actionable",
            "marts.fct_pgx_exposure",
        )
        exposed = scalar(
            "select count(distinct person_key) from marts.fct_pgx_exposure where is_actionable",
            "marts.fct_pgx_exposure",
        )
        scored: set[str] = set()
        if table_exists(conn, "marts.fct_fh_case_finding"):
            scored = {
                key
                for (key,) in conn.execute(
                    "select person_key from marts.fct_fh_case_finding "
                    "where dlcn_category <> 'unlikely'"
                ).fetchall()
            }
        calls: dict[tuple[str, str], tuple[str, int | None]] = {}
        if table_exists(conn, "variants.person_genotypes"):
            calls = {
                (genome, variant): (callability, copies)
                for genome, variant, callability, copies in conn.execute(
                    "select genome_id, variant_key, callability, alt_copies "
                    "from variants.person_genotypes"
                ).fetchall()
            }

    measured = found_measured = None
    carriers_file, persons_file = (
        ground_truth / "fh_carriers.parquet",
        ground_truth / "persons.parquet",
    )
    if carriers_file.exists() and persons_file.exists() and found is not None:
        cpr = {p["person_id"]: p["cpr"] for p in pq.read_table(persons_file).to_pylist()}
        carriers = [
            c["person_id"]
            for c in pq.read_table(carriers_file).to_pylist()
            if c["carrier"] and c["ldl_measured"] and c["person_id"] in cpr
        ]
        measured = len(carriers)
        found_measured = sum(pseudonym.one(cpr[p]) in scored for p in carriers)

    checked = agreeing = None
    positions = ground_truth / "genome_positions.csv"
    if positions.exists() and calls:
        checked = agreeing = 0
        with positions.open(newline="", encoding="utf-8") as handle:
            for planted in csv.DictReader(handle):
                call = calls.get((planted["genome_id"], planted["variant_key"]))
                if call is None:
                    continue  # a genome the export left out (an opt-out in force)
                checked += 1
                agreeing += call == _expected(planted)
    return GenomicFollowUp(
        fh_probable_or_definite=found,
        fh_carriers_measured=measured,
        fh_carriers_measured_found=found_measured,
        fh_cascade_relatives=cascade,
        pgx_actionable_exposures=exposures,
        pgx_persons_exposed=exposed,
        genotype_calls_checked=checked,
        genotype_calls_agreeing=agreeing,
    )


def _expected(planted: dict[str, str]) -> tuple[str, int | None]:
    """The export's (callability, ALT copies) for a planted genotype."""
    if planted["covered"].lower() != "true":
        return ("not_covered", None)
    copies = planted["genotype"].count("1")
    return ("called_variant" if copies else "called_ref", copies)
