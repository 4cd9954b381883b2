"""The Spark aggregation (real Spark, local mode) gives the aggregate and the release of the
single-process path: on the synthetic delivery with every kind of batch (joint calls, gVCF
reference blocks, plain VCFs with and without callable regions, a plain VCF of a gVCF's
genome) after removals, and on the handcrafted awkward cases (multi-allelic indels,
half-missing genotypes, haploid chrX, the PAR boundary)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.remove import recompute, remove_persons
from genomics_variants.contributions.store import State, Store
from genomics_variants.frequencies.release import frequency_table
from medfollow_core.pseudonymise import load_key
from support.variants import Handcrafted

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None, reason="no Java runtime (make reference-tools installs one)"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from genomics_variants.contributions.spark import spark_session

    session = spark_session("local[2]", partitions=4)
    yield session
    session.stop()


def _assert_same(spark_made: Aggregate, store: Store) -> None:
    expected = recompute(store)
    assert spark_made.sites.ids.tolist() == expected.sites.ids.tolist()
    assert np.array_equal(spark_made.listed_by, expected.listed_by)
    assert np.array_equal(spark_made.counts, expected.counts)
    state = store.load()
    with_spark = State(state.generation, state.samples, state.batches, spark_made)
    assert frequency_table(with_spark).equals(frequency_table(state))


def test_every_kind_of_batch_after_removals(
    spark: Any,
    delivery: Path,
    manifest_rows: list[dict[str, str]],
    reference: Path,
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    from genomics_variants.contributions.spark import spark_aggregate

    per_sample = delivery / "per_sample"
    cpr = {row["genome_id"]: row["cpr"] for row in manifest_rows}
    joint_genomes = [r["genome_id"] for r in manifest_rows if r["vcf_file"].startswith("joint")]
    gvcfs = sorted(per_sample.glob("*.g.vcf.gz"))
    store = Store(tmp_path / "store")
    key = load_key()
    ingest_files(store, [delivery / "joint" / "cohort.vcf.gz"], reference, key=key, workers=2)
    ingest_files(store, sorted(per_sample.glob("*.vcf.gz")), reference, key=key, workers=2)
    removed = [joint_genomes[2], gvcfs[0].name.removesuffix(".g.vcf.gz")]
    remove_persons(store, [person_key(cpr[genome]) for genome in removed])
    kinds = set(store.load().batches.column("kind").to_pylist())
    assert {"joint", "gvcf", "vcf+bed", "vcf"} <= kinds, kinds

    _assert_same(spark_aggregate(store, spark), store)


def test_the_awkward_cases(spark: Any, handcrafted: Handcrafted, tmp_path: Path) -> None:
    from genomics_variants.contributions.spark import spark_aggregate

    store = Store(tmp_path / "store")
    ingest_files(
        store,
        [handcrafted.vcf],
        handcrafted.reference,
        key=load_key(),
        manifest=handcrafted.manifest,
        workers=1,
    )
    _assert_same(spark_aggregate(store, spark), store)


def test_an_empty_store(spark: Any, tmp_path: Path) -> None:
    from genomics_variants.contributions.spark import spark_aggregate

    assert len(spark_aggregate(Store(tmp_path / "empty"), spark)) == 0
