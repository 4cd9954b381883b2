"""The Spark aggregation (real Spark, local mode) gives the aggregate and the release of the
single-process path: recomputed on the synthetic delivery with every kind of batch (joint
calls, gVCF reference blocks, plain VCFs with and without callable regions, a plain VCF of a
gVCF's genome) after removals, and on the handcrafted awkward cases (multi-allelic indels,
half-missing genotypes, haploid chrX, the PAR boundary); and added incrementally, ingest by
ingest, step for step equal to the in-process update; and removals (opt-outs) counted on
Spark, step for step equal to the in-process removal and to a store that never held the
persons, reading nothing of the batches they do not change."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.aggregate import Aggregate, Contribution, add
from genomics_variants.contributions.cells import N_CELLS, REGIONS, SEXES
from genomics_variants.contributions.chunks import Chunks
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.remove import recompute, remove_persons
from genomics_variants.contributions.store import BATCHES_SCHEMA, SAMPLES_SCHEMA, State, Store
from genomics_variants.frequencies.release import frequency_table
from genomics_variants.sites import Sites
from medfollow_core.pseudonymise import load_key
from support.variants import (
    Handcrafted,
    assert_same_aggregate,
    java_runs_spark,
    one_genome_of_each_kind,
)

SMALL_CHUNKS = 14  # 16 kb: the synthetic delivery's 0.7 Mb falls in dozens of chunks

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
    assert_same_aggregate(spark_made, recompute(store))
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

    _assert_same(spark_aggregate(store, spark, tmp_path / "fresh").load(), store)


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
    _assert_same(spark_aggregate(store, spark, tmp_path / "fresh").load(), store)


def test_an_empty_store(spark: Any, tmp_path: Path) -> None:
    from genomics_variants.contributions.spark import spark_aggregate

    assert len(spark_aggregate(Store(tmp_path / "empty"), spark, tmp_path / "fresh")) == 0


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
    on_spark = Store(tmp_path / "spark", chunk_bits=SMALL_CHUNKS)
    in_process = Store(tmp_path / "local", chunk_bits=SMALL_CHUNKS)
    for files in steps:
        ingest_files(on_spark, files, reference, key=key, workers=2, spark=spark)
        ingest_files(in_process, files, reference, key=key, workers=2)
        assert_same_aggregate(on_spark.load().aggregate, in_process.load().aggregate)
        assert on_spark.load().chunks.same_as(in_process.load().chunks)
    assert len(on_spark.load().chunks.files) > 10  # the equality holds across many chunks
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
        Chunks.empty(tmp_path / "aggregate", store.chunk_bits),
        batches,
        samples=pa.table(
            {
                "genome_id": list(cells),
                "batch_id": ["000001-0001", "000001-0001", "000001-0002"],
                "cell": list(cells.values()),
            }
        ),
        residents=[],
        generation=1,
    ).load()
    in_process = add(
        Aggregate.empty(),
        [
            Contribution(joint, joint_codes, np.array([0, 7])),
            Contribution(own, np.full((1, 1), het, np.uint8), np.array([3]), blocks),
        ],
        [],
    )
    assert_same_aggregate(on_spark, in_process)
    called_in_cell_3 = in_process.counts[:, 3, 1].tolist()  # measure "called"
    assert called_in_cell_3 == [1, 0, 0, 1]  # 150: the long block; 250, 500: none; 700: own


def _most_private(store: Store) -> str:
    """The genome of the joint batch carrying most variants nobody else there carries (its
    removal makes the batch drop variants)."""
    state = store.load()
    row = next(r for r in state.batches.to_pylist() if r["kind"] == "joint")
    ids, codes = store.batch_calls(row["batch_id"], row["calls_file"], row["n_sites"])
    carriers = (codes >> 4) > 0
    private = carriers & (carriers.sum(axis=1, keepdims=True) == 1)
    return ids[int(np.argmax(private.sum(axis=0)))]


def test_removals_on_spark_equal_in_process_and_a_store_that_never_held_them(
    spark: Any,
    delivery: Path,
    manifest_rows: list[dict[str, str]],
    reference: Path,
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Every kind of removal: a joint genome whose batch then drops its private variants,
    other joint genomes, a gVCF genome (its blocks leave every variant), plain VCFs with and
    without callable regions; two removals in a row."""
    per_sample = delivery / "per_sample"
    files = [delivery / "joint" / "cohort.vcf.gz", *sorted(per_sample.glob("*.vcf.gz"))]
    key = load_key()
    on_spark = Store(tmp_path / "spark", chunk_bits=SMALL_CHUNKS)
    in_process = Store(tmp_path / "local", chunk_bits=SMALL_CHUNKS)
    for store in (on_spark, in_process):
        ingest_files(store, files, reference, key=key, workers=2)
    state = on_spark.load()
    kind_of = {row["batch_id"]: row["kind"] for row in state.batches.to_pylist()}
    of_kind: dict[str, list[str]] = {}
    for row in state.samples.to_pylist():
        of_kind.setdefault(kind_of[row["batch_id"]], []).append(row["genome_id"])
    private = _most_private(on_spark)
    joint = [g for g in of_kind["joint"] if g != private]
    steps = [
        [private, of_kind["gvcf"][0], of_kind["vcf+bed"][0], of_kind["vcf"][0]],
        [joint[0], joint[5], of_kind["gvcf"][1], of_kind["vcf+bed"][1]],
    ]
    cpr = {row["genome_id"]: row["cpr"] for row in manifest_rows}
    for genomes in steps:
        persons = [person_key(cpr[g]) for g in genomes]
        removed = remove_persons(on_spark, persons, spark=spark)
        remove_persons(in_process, persons)
        assert removed.genomes == len(genomes)
        assert_same_aggregate(on_spark.load().aggregate, in_process.load().aggregate)
        assert on_spark.load().chunks.same_as(in_process.load().chunks)
        _assert_same(on_spark.load().aggregate, on_spark)

    never = Store(tmp_path / "never", chunk_bits=SMALL_CHUNKS)
    gone = {person_key(cpr[g]) for genomes in steps for g in genomes}
    ingest_files(never, files, reference, key=key, exclude_persons=gone, workers=2)
    assert_same_aggregate(on_spark.load().aggregate, never.load().aggregate)
    assert on_spark.load().chunks.same_as(never.load().chunks)
    assert frequency_table(on_spark.load()).equals(frequency_table(never.load()))


HOM_REF, HET, HOM_ALT = 0b001011, 0b011011, 0b101011


def _joint_store(
    folder: Path, batches: list[tuple[Sites, list[str], np.ndarray]], chunk_bits: int = 20
) -> Store:
    """A store of joint batches written directly (sites, genome ids, codes per batch), with
    its aggregate counted in process; genome g belongs to person "person-g"."""
    store = Store(folder, chunk_bits=chunk_bits)
    samples: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    contributions = []
    with store.writer():
        for number, (sites, genomes, codes) in enumerate(batches, start=1):
            batch_id = f"000001-{number:04d}"
            calls_file = store.write_batch(batch_id, 1, sites, genomes, codes, None)
            rows.append(
                {"batch_id": batch_id, "kind": "joint", "file_name": f"{batch_id}.vcf.gz"}
                | {"calls_file": calls_file, "n_sites": len(sites), "qc": "none", "added_at": ""}
            )
            cells = np.arange(len(genomes)) % N_CELLS
            samples += [
                {"genome_id": g, "person_key": f"person-{g}", "batch_id": batch_id}
                | {"sex": SEXES[c // len(REGIONS)], "region": REGIONS[c % len(REGIONS)]}
                | {"cell": int(c), "added_at": ""}
                for g, c in zip(genomes, cells, strict=True)
            ]
            contributions.append(Contribution(sites, codes, cells))
        store.commit(
            State(
                1,
                pa.Table.from_pylist(samples, schema=SAMPLES_SCHEMA),
                pa.Table.from_pylist(rows, schema=BATCHES_SCHEMA),
                add(Aggregate.empty(), contributions, []),
            )
        )
    return store


def test_a_removal_reads_only_what_it_changes(spark: Any, tmp_path: Path) -> None:
    """A joint batch of 300 genomes (three row groups): removing genomes that leave every
    variant carried reads only their row groups; removing the one carrier of a variant also
    takes the batch's listing there and every other genome's calls (hom-ref calls, counted
    in AN), which shows where another batch still lists the variant. That other batch, which
    no genome leaves, is never read (its calls file is away meanwhile)."""
    rng = np.random.default_rng(16)
    genomes = [f"G{i:03d}" for i in range(300)]
    sites = Sites.build(["chr17"] * 6, [100, 200, 300, 400, 500, 600], ["A"] * 6, ["C"] * 6)
    codes = rng.choice(np.array([HOM_REF, HET, HOM_ALT, 0], np.uint8), size=(6, 300))
    codes[:, 140:142] = HOM_REF  # their removal leaves every variant carried
    codes[5] = HOM_REF
    codes[5, 150] = HET  # the only carrier of the last variant
    other = Sites.build(["chr17"] * 2, [300, 600], ["A"] * 2, ["C"] * 2)
    other_genomes = [f"H{i:03d}" for i in range(20)]
    other_codes = rng.choice(np.array([HOM_REF, HET], np.uint8), size=(2, 20))
    batches = [(sites, genomes, codes), (other, other_genomes, other_codes)]
    on_spark = _joint_store(tmp_path / "spark", batches)
    in_process = _joint_store(tmp_path / "local", batches)
    untouched = on_spark.batch_dir("000001-0002") / "calls.000001.parquet"
    for removed in (["G140", "G141"], ["G150"]):
        persons = [f"person-{g}" for g in removed]
        untouched.rename(untouched.with_suffix(".away"))
        remove_persons(on_spark, persons, spark=spark)
        untouched.with_suffix(".away").rename(untouched)
        remove_persons(in_process, persons)
        assert_same_aggregate(on_spark.load().aggregate, in_process.load().aggregate)
        _assert_same(on_spark.load().aggregate, on_spark)
    after = on_spark.load().aggregate
    assert after.listed_by.tolist() == [1, 1, 2, 1, 1, 1]  # 600: now the other batch's only


def test_a_change_reads_and_writes_only_the_chunks_it_touches(spark: Any, tmp_path: Path) -> None:
    """A joint batch listing variants of one chunk (of 4 kb) is added on Spark: that chunk
    is rewritten under the new generation; the files of the others, away meanwhile, are
    kept by the new manifest as they were. The result equals the in-process addition."""
    from genomics_variants.contributions.chunks import chunk_numbers, digests_of
    from genomics_variants.contributions.spark import StoredBatch, spark_add

    rng = np.random.default_rng(7)
    genomes = [f"G{i:02d}" for i in range(40)]
    sites = Sites.build(["chr17"] * 6, [100, 200, 5000, 5100, 9000, 70_000], ["A"] * 6, ["C"] * 6)
    codes = rng.choice(np.array([HOM_REF, HET, HOM_ALT], np.uint8), size=(6, 40))
    store = _joint_store(tmp_path / "store", [(sites, genomes, codes)], chunk_bits=12)
    state = store.load()
    before = state.chunks.files
    assert len(before) == 4
    extra = Sites.build(["chr17"] * 2, [5000, 5300], ["A", "G"], ["C", "T"])
    extra_genomes = [f"H{i:02d}" for i in range(10)]
    extra_codes = rng.choice(np.array([HOM_REF, HET], np.uint8), size=(2, 10))
    calls = store.write_batch("000002-0001", 2, extra, extra_genomes, extra_codes, None)
    cells = np.arange(10) % N_CELLS
    samples = pa.concat_tables(
        [
            state.samples.select(["genome_id", "batch_id", "cell"]),
            pa.table(
                {
                    "genome_id": extra_genomes,
                    "batch_id": ["000002-0001"] * 10,
                    "cell": pa.array(cells, pa.int32()),
                }
            ),
        ]
    )
    touched = int(chunk_numbers(extra, 12)[0])
    away = [store.aggregate_dir / name for chunk, name in before.items() if chunk != touched]
    for path in away:
        path.rename(path.with_suffix(".away"))
    after = spark_add(
        store,
        spark,
        state.chunks,
        [StoredBatch("000002-0001", "joint", calls)],
        samples=samples,
        residents=[],
        generation=2,
    )
    for path in away:
        path.with_suffix(".away").rename(path)
    assert {c: n for c, n in after.files.items() if c != touched} == {
        c: n for c, n in before.items() if c != touched
    }
    assert after.files[touched].endswith(".000002.parquet")
    expected = add(state.aggregate, [Contribution(extra, extra_codes, cells)], [])
    assert_same_aggregate(after.load(), expected)
    assert after.digests == digests_of(expected, 12)


def test_a_release_written_by_the_executors_is_the_single_process_release(
    spark: Any,
    delivery: Path,
    manifest_rows: list[dict[str, str]],
    reference: Path,
    tmp_path: Path,
) -> None:
    """A release leaving genomes out (a joint genome, a gVCF's, a plain VCF's with callable
    regions) written in many small parts by Spark's executors, then joined, is the release
    this process writes: every file the same, byte for byte; its served copy reads back its
    Parquet table."""
    from genomics_variants.contributions.remove import without_genomes
    from genomics_variants.frequencies.query import FrequencyIndex
    from genomics_variants.frequencies.release import RELEASE_FILE, write_release

    store = Store(tmp_path / "store", chunk_bits=SMALL_CHUNKS)
    ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    leaving = one_genome_of_each_kind(delivery, manifest_rows)
    view = without_genomes(store, store.load(), leaving)
    here = write_release(store, view, part_variants=100, block_rows=8)
    pickled = Path(spark.sparkContext._temp_dir)  # where pyspark pickles a broadcast
    before = set(pickled.rglob("*"))
    there = write_release(store, view, part_variants=100, block_rows=8, spark=spark)
    assert set(pickled.rglob("*")) == before  # the withheld genomes' codes are not left there
    assert len(there.frequency_files()) > 5
    assert len(list(there.coverage.glob("part-*.parquet"))) > 3  # coverage written in parts
    files = sorted(p.relative_to(here.folder) for p in here.folder.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(there.folder) for p in there.folder.rglob("*") if p.is_file()
    )
    for name in files:
        if name.name != RELEASE_FILE:
            assert (here.folder / name).read_bytes() == (there.folder / name).read_bytes(), name
    expected = pq.read_table(there.frequencies)
    index = FrequencyIndex(there)
    assert index.table(np.arange(len(index))).cast(expected.schema).equals(expected)
    assert expected.num_rows == there.meta["variant_count"] == here.meta["variant_count"]


def test_a_lost_chunk_file_is_refused_in_one_line_on_spark(spark: Any, tmp_path: Path) -> None:
    """An executor that cannot read its chunk says so to the driver, which refuses the change
    in one line (not Spark's stack trace), and the store stays as it was."""
    from medfollow_core.errors import MedfollowError

    sites = Sites.build(["chr17"] * 3, [100, 5000, 9000], ["A"] * 3, ["C"] * 3)
    genomes = [f"G{i}" for i in range(4)]
    codes = np.full((3, 4), HET, np.uint8)
    store = _joint_store(tmp_path / "store", [(sites, genomes, codes)], chunk_bits=12)
    before = store.load()
    (store.aggregate_dir / next(iter(before.chunks.files.values()))).unlink()
    with pytest.raises(MedfollowError, match="missing or damaged") as refused:
        remove_persons(store, ["person-G0"], spark=spark)
    assert "\n" not in str(refused.value)
    assert store.current_generation() == before.generation


def test_a_part_the_executors_cannot_write_is_refused_in_one_line(
    spark: Any, delivery: Path, reference: Path, tmp_path: Path
) -> None:
    """An error on an executor that is not a refusal (here a block size of 0) comes back as
    one line naming it; the release being written is removed and the previous one stays in
    force. And a second attempt at a part, as Spark may run one, writes it again whole, a
    killed attempt's leftovers never reaching the release."""
    from genomics_variants.contributions.chunks import chunked
    from genomics_variants.frequencies.release import (
        FREQUENCIES_FILE,
        current_release,
        write_part,
        write_release,
    )
    from medfollow_core.errors import MedfollowError

    store = Store(tmp_path / "store", chunk_bits=SMALL_CHUNKS)
    ingest_files(store, [delivery / "joint" / "cohort.vcf.gz"], reference, key=load_key())
    first = write_release(store, store.load(), part_variants=200)
    with pytest.raises(MedfollowError, match=r"part \d+ of the release: \w+Error") as refused:
        write_release(store, store.load(), part_variants=200, block_rows=0, spark=spark)
    assert "\n" not in str(refused.value) and "Traceback" not in str(refused.value)
    assert current_release(store).release_id == first.release_id  # type: ignore[union-attr]
    assert not list(store.releases_dir.glob(".*"))

    folder = tmp_path / "attempts"
    folder.mkdir()
    counts = chunked(store.load().counts, store.chunk_bits)
    chunks = [number for number, _ in counts.sizes()][:3]
    rows = write_part(folder, 0, counts, chunks, 8)
    once = (folder / FREQUENCIES_FILE / "part-00000.parquet").read_bytes()
    (folder / FREQUENCIES_FILE / ".part-00000.killed.partial").write_bytes(once[:100])
    assert write_part(folder, 0, counts, chunks, 8) == rows  # the share in place stays
    assert (folder / FREQUENCIES_FILE / "part-00000.parquet").read_bytes() == once
    assert sorted(p.name for p in (folder / ".parts").iterdir()) == ["00000"]


def test_a_blocks_file_the_executors_cannot_read_is_refused_in_one_line(
    spark: Any, delivery: Path, reference: Path, tmp_path: Path
) -> None:
    """The coverage table is worked out on the executors from every genome's blocks; one
    they cannot read (here damaged) refuses the release in one line naming its batch, as
    in this process, and the previous release stays in force."""
    from genomics_variants.contributions.store import batch_label
    from genomics_variants.frequencies.coverage import block_batches
    from genomics_variants.frequencies.release import current_release, write_release
    from medfollow_core.errors import MedfollowError

    store = Store(tmp_path / "store", chunk_bits=SMALL_CHUNKS)
    ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    first = write_release(store, store.load(), spark=spark)
    batch_id, _ = block_batches(store.load())[0]
    store.blocks_file(batch_id).write_bytes(b"PAR1 not parquet")
    named = re.escape(batch_label(batch_id))  # "batch 2 of generation 1": no <cpr> mask
    assert "<cpr>" not in named and batch_id.split("-")[1].lstrip("0") in named
    for session in (None, spark):  # in this process too
        with pytest.raises(MedfollowError, match=f"the blocks file of {named} is missing") as no:
            write_release(store, store.load(), spark=session)
        assert "\n" not in str(no.value) and "Traceback" not in str(no.value)
    assert current_release(store).release_id == first.release_id  # type: ignore[union-attr]
    assert not list(store.releases_dir.glob(".*"))
