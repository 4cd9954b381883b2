"""Helpers for the dbt tests: load a synthetic delivery set, run dbt in-process, read back.

dbt runs with the environment the platform gives it (medfollow.orchestration.environment)
and writes its target and logs to a temporary folder, so tests never touch dbt/target.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from medfollow.orchestration.environment import platform_env
from medfollow_core import config
from registry_ingest.pipeline import ingest_delivery

SKIPPED_SOURCES = {"genomes"}

WORLD_SEED = 21
WORLD_PERSONS = 3000
WORLD_CUTOFF = date(2026, 9, 30)
"""The synthetic world the session's shared warehouse is built from (tests/dbt/conftest.py)."""

FH_UNIT_TESTS = frozenset(
    {
        "fh_ldl_points_follow_the_dlcn_bands",
        "fh_clinical_history_counts_the_highest_criterion",
        "fh_premature_means_before_55_for_men_and_60_for_women",
        "fh_family_history_from_first_degree_relatives",
        "fh_relatives_are_parents_children_and_full_siblings",
        "fh_dlcn_category_cut_offs",
        "fh_cascade_lists_unscreened_relatives_without_opt_out",
        "fh_dna_finding_scores_8_only_when_called",
    }
)
"""The dbt unit tests of the FH marts (dbt/models/marts/fh/_fh__models.yml)."""

PGX_UNIT_TESTS = (
    "pgx_diplotypes_follow_cpic_alleles",
    "pgx_uncovered_position_is_indeterminate",
    "pgx_optouts_are_left_out",
    "pgx_exposure_leaves_out_optouts_and_classes_recommendations",
)
"""The dbt unit tests of the pharmacogenetic marts (dbt/models/marts/pgx/_pgx__models.yml)."""


@dataclass
class DbtRun:
    """Outcome of one dbt invocation: success, and each node's status by name."""

    success: bool
    statuses: dict[str, str] = field(default_factory=dict)
    exception: BaseException | None = None

    def failures(self) -> dict[str, str]:
        return {k: v for k, v in self.statuses.items() if v in ("error", "fail", "runtime error")}


@dataclass(frozen=True)
class Warehouse:
    """A built warehouse: its URL, the synthetic world it holds and how dbt went."""

    url: str
    synth: Path
    work: Path
    build: DbtRun
    unit: DbtRun

    def truth(self, name: str) -> list[dict[str, Any]]:
        return pq.read_table(self.synth / "ground_truth" / f"{name}.parquet").to_pylist()


def load_deliveries(landing: Path, url: str, key: bytes) -> list[str]:
    """Ingest every delivery in the landing area (CPR first: others are checked against it)."""
    folders = sorted(
        (
            d
            for source in landing.iterdir()
            if source.name not in SKIPPED_SOURCES
            for d in source.iterdir()
            if d.is_dir()
        ),
        key=lambda d: (d.parent.name != "cpr", d.parent.name, d.name),
    )
    loaded = []
    for folder in folders:
        outcome = ingest_delivery(
            folder, url=url, key=key, source=folder.parent.name, gx_dir=landing.parent / "gx"
        )
        assert outcome.status == "loaded", outcome.summary()
        loaded.append(outcome.delivery_id)
    return loaded


@contextmanager
def platform_environment(url: str) -> Iterator[None]:
    """The platform's environment for `url`, restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in platform_env(url).items():
            patch.setenv(name, value)
        yield


def run_dbt(url: str, args: Sequence[str], work: Path) -> DbtRun:
    """Run dbt in-process against `url` with target and logs under `work`."""
    from dbt.cli.main import dbtRunner

    project = str(config.DBT_PROJECT_DIR)
    with platform_environment(url):
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                project,
                "--profiles-dir",
                project,
                "--target-path",
                str(work / "target"),
                "--log-path",
                str(work / "logs"),
            ]
        )
    statuses: dict[str, str] = {}
    for node_result in getattr(result.result, "results", None) or []:
        statuses[node_result.node.name] = str(node_result.status)
    return DbtRun(success=result.success, statuses=statuses, exception=result.exception)


def rows(url: str, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(query, params)
        names = [d.name for d in cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


GENOMIC_MARTS = (
    "path:models/staging/variants",
    "path:models/intermediate/pgx",
    "path:models/marts/pgx",
    "path:models/exports/pgx_actionable_exposures.sql",
    "path:models/intermediate/fh",
    "path:models/marts/fh",
    "path:seeds/genotyped_positions.csv",
    "path:seeds/pgx_alleles.csv",
    "path:seeds/pgx_phenotype_rules.csv",
    "path:seeds/pgx_drug_recommendations.csv",
    "path:seeds/fh_codes.csv",
    "path:seeds/fh_dlcn_categories.csv",
    "path:seeds/fh_dlcn_criteria.csv",
    "path:seeds/fh_lab_codes.csv",
    "path:seeds/fh_treatment_atc.csv",
)
"""What a deployment without genomes leaves out of dbt ($MEDFOLLOW_DBT_EXCLUDE): the
pharmacogenetic and FH folders with their seeds and export."""
