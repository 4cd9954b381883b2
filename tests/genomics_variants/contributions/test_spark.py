"""The Spark aggregation (real Spark, local mode) gives the aggregate and the release of the
single-process path: recomputed on the synthetic delivery with every kind of batch (joint
calls, gVCF reference blocks, plain VCFs with and without callable regions, a plain VCF of a
gVCF's genome) after removals, and on the handcrafted awkward cases (multi-allelic indels,
half-missing genotypes, haploid chrX, the PAR boundary); and added incrementally, ingest by
ingest, step for step equal to the in-process update."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.remove import recompute, remove_persons
from genomics_variants.contributions.store import State, Store
from genomics_variants.frequencies.release import frequency_table
from medfollow_core.pseudonymise import load_key
from support.variants import Handcrafted, java_runs_spark

pytestmark = pytest.mark.skipif(
    not java_runs_spark(), reason="no Java 17+ runtime (make reference-tools installs one)"
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


def test_ingests_update_the_aggregate_on_spark_as_in_process(
    spark: Any,
    delivery: Path,
    reference: Path,
    tmp_path: Path,
) -> None:
    """Each step reads only the new batches (and, where new variants appear, the stored
    blocks): a joint file; a gVCF's blocks over every variant; stored gVCFs over the
    variants a later plain VCF adds."""
    per_sample = delivery / "per_sample"
    gvcfs = sorted(per_sample.glob("*.g.vcf.gz"))
    plain = sorted(p for p in per_sample.glob("*.vcf.gz") if not p.name.endswith(".g.vcf.gz"))
    steps = [
        [delivery / "joint" / "cohort.vcf.gz"],
        [gvcfs[0], *plain[:2]],
        [*gvcfs[1:], *plain[2:]],
    ]
    key = load_key()
    on_spark, in_process = Store(tmp_path / "spark"), Store(tmp_path / "local")
    for files in steps:
        ingest_files(on_spark, files, reference, key=key, workers=2, spark=spark)
        ingest_files(in_process, files, reference, key=key, workers=2)
        a, b = on_spark.load().aggregate, in_process.load().aggregate
        assert a.sites.ids.tolist() == b.sites.ids.tolist()
        assert np.array_equal(a.listed_by, b.listed_by)
        assert np.array_equal(a.counts, b.counts)
    assert frequency_table(on_spark.load()).equals(frequency_table(in_process.load()))


def test_blocks_that_overlap_follow_the_single_process_rule(spark: Any, tmp_path: Path) -> None:
    """A (malformed) gVCF may hold overlapping blocks, or two starting at one position: at
    each variant both paths take the block starting last at or before it (of equal starts,
    the later in the file) and count it only if it reaches the variant."""
    from genomics_variants.contributions.aggregate import Contribution, add
    from genomics_variants.contributions.spark import StoredBatch, spark_add
    from genomics_variants.sites import Sites
    from genomics_variants.vcf.calls import Blocks

    ref_call, not_adj_ref_call, het = 0b001011, 0b001001, 0b011011
    store = Store(tmp_path / "store")
    joint = Sites.build(["chr17"] * 4, [150, 250, 500, 700], ["A"] * 4, ["C"] * 4)
    joint_codes = np.full((4, 2), het, dtype=np.uint8)
    own = Sites.build(["chr17"], [700], ["A"], ["C"])
    blocks = Blocks(
        np.array(["chr17"] * 3),
        np.array([100, 200, 200]),
        np.array([1000, 300, 240]),
        np.array([ref_call, not_adj_ref_call, ref_call], dtype=np.uint8),
    )
    store.write_batch("000001-0001", 1, joint, ["J1", "J2"], joint_codes, None)
    store.write_batch("000001-0002", 1, own, ["G1"], np.full((1, 1), het, np.uint8), blocks)
    cells = {"J1": 0, "J2": 7, "G1": 3}
    batches = [
        StoredBatch("000001-0001", "joint", "calls.000001.parquet"),
        StoredBatch("000001-0002", "gvcf", "calls.000001.parquet"),
    ]
    on_spark = spark_add(
        store,
        spark,
        Aggregate.empty(),
        batches,
        samples=pa.table(
            {
                "genome_id": list(cells),
                "batch_id": ["000001-0001", "000001-0001", "000001-0002"],
                "cell": list(cells.values()),
            }
        ),
        residents=[],
    )
    in_process = add(
        Aggregate.empty(),
        [
            Contribution(joint, joint_codes, np.array([0, 7])),
            Contribution(own, np.full((1, 1), het, np.uint8), np.array([3]), blocks),
        ],
        [],
    )
    assert on_spark.sites.ids.tolist() == in_process.sites.ids.tolist()
    assert np.array_equal(on_spark.listed_by, in_process.listed_by)
    assert np.array_equal(on_spark.counts, in_process.counts)
    called_in_cell_3 = in_process.counts[:, 3, 1].tolist()  # measure "called"
    assert called_in_cell_3 == [1, 0, 0, 1]  # 150: the long block; 250, 500: none; 700: own
