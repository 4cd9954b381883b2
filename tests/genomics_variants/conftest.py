"""Fixtures for the variant-frequency tests: a synthetic genome delivery (msprime), a
handcrafted VCF with the awkward cases, and helpers to build stores quickly.

CPR numbers are computed at run time (the repository holds none).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from medfollow_core.pseudonymise import Pseudonymiser, load_key
from support.deliveries import make_cpr
from support.variants import Handcrafted, write_handcrafted
from synthetic_deliveries.genomes import write_genomes

N_GENOMES = 40
SEED = 20260331


def _cprs(n: int) -> list[str]:
    return [make_cpr(date(1940 + i % 60, 1 + i % 12, 1 + i % 28), 100 + i) for i in range(n)]


@pytest.fixture(scope="session")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genome delivery: joint VCF, single-sample VCFs, gVCFs, manifest, reference."""
    samples = pa.table(
        {
            "genome_id": [f"NGC{i:05d}" for i in range(N_GENOMES)],
            "sample_id": [f"RBGB-{i:07d}" for i in range(N_GENOMES)],
            "cpr": _cprs(N_GENOMES),
            "karyotype": ["XY" if i % 3 == 0 else "XX" for i in range(N_GENOMES)],
        }
    )
    return write_genomes(
        tmp_path_factory.mktemp("landing"), samples, seed=SEED, cutoff=date(2026, 3, 31)
    )


@pytest.fixture(scope="session")
def reference(delivery: Path) -> Path:
    return delivery / "reference" / "GRCh38_subset.fa.gz"


@pytest.fixture(scope="session")
def person_key() -> Callable[[str], str]:
    """CPR -> person_key with the test pseudonymisation key."""
    return Pseudonymiser(load_key()).one


@pytest.fixture(scope="session")
def manifest_rows(delivery: Path) -> list[dict[str, str]]:
    lines = (delivery / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.fixture(scope="session")
def handcrafted(tmp_path_factory: pytest.TempPathFactory) -> Handcrafted:
    return write_handcrafted(tmp_path_factory.mktemp("handcrafted"), _cprs(4))


@pytest.fixture(scope="session")
def bedtools() -> str:
    path = shutil.which("bedtools")
    if path is None:
        pytest.skip("bedtools is not installed (make reference-tools)")
    return path


@pytest.fixture(scope="session")
def bcftools() -> str:
    path = shutil.which("bcftools")
    if path is None:
        pytest.skip("bcftools is not installed (make reference-tools)")
    return path
