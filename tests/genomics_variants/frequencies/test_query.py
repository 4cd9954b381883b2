"""Parsing what users type, and look-ups in a release."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import (
    FrequencyIndex,
    RegionQuery,
    VariantQuery,
    parse_query,
)
from genomics_variants.frequencies.release import write_release
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from support.variants import release_columns


@pytest.mark.parametrize(
    "text",
    [
        "17-43045711-G-A",
        "chr17-43045711-G-A",
        "chr17:43045711 G>A",
        "chr17:43045711:G:A",
        "17:43,045,711 g>a",
    ],
)
def test_variant_spellings(text: str) -> None:
    assert parse_query(text) == VariantQuery("chr17", 43045711, "G", "A")


def test_regions_and_errors() -> None:
    assert parse_query("chr17:43040000-43050000") == RegionQuery("chr17", 43040000, 43050000)
    assert parse_query("X:1-10") == RegionQuery("chrX", 1, 10)
    for bad in ("BRCA1", "chr99:1-2", "chr17:50-10", "chr17-1-G"):
        with pytest.raises(MedfollowError):
            parse_query(bad)


def test_index_lookups_and_region_cap(delivery: Path, reference: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    state = ingest_files(
        store, [delivery / "joint" / "cohort.vcf.gz"], reference, key=load_key()
    ).state
    index = FrequencyIndex(write_release(store, state))
    columns = release_columns(index.release)
    variant = columns["variant_id"][10]
    record = index.record(index.row(variant))  # type: ignore[arg-type]
    assert record["variant_id"] == variant and set(record["frequencies"]) >= {"all", "XX", "XY"}
    answer = index.region(RegionQuery("chr17", 43_000_000, 43_099_999), max_variants=5)
    assert answer.truncated and len(answer.rows) == 5 and answer.total > 5
    positions = columns["pos"][answer.rows]
    assert (positions[:-1] <= positions[1:]).all()
    with pytest.raises(MedfollowError, match="the limit is 100,000 bp"):
        index.region(RegionQuery("chr17", 43_000_000, 43_200_000))
    assert index.row("chr17-1-A-C") is None
