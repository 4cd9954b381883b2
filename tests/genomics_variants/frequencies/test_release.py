"""Releases: versioned, switched atomically, the previous one kept; strata add up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.release import current_release, list_releases, write_release
from genomics_variants.frequencies.strata import STRATA, column
from medfollow_core.pseudonymise import load_key
from support.variants import one_genome_of_each_kind


@pytest.fixture(scope="module")
def store(delivery: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("release") / "store")
    ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    return store


def test_versions_and_switch(store: Store) -> None:
    state = store.load()
    first = write_release(store, state)
    reader = pq.ParquetFile(first.frequency_files()[0])  # a reader holding the first release...
    second = write_release(store, state)
    third = write_release(store, state)
    assert [r.release_id for r in (first, second, third)] == ["r00001", "r00002", "r00003"]
    assert current_release(store).release_id == "r00003"  # type: ignore[union-attr]
    assert [r.release_id for r in list_releases(store)] == ["r00002", "r00003"]  # previous kept
    assert reader.read().num_rows == third.meta["variant_count"]  # ...still reads it
    assert third.meta["sample_count"] == 40 and third.meta["assembly"] == "GRCh38"
    assert third.meta["samples_by_stratum"]["XY"] + third.meta["samples_by_stratum"]["XX"] == 40
    assert not list(store.releases_dir.glob(".*"))


def test_strata_add_up_and_fields_are_consistent(store: Store) -> None:
    release = current_release(store) or write_release(store, store.load())
    table = pq.read_table(release.frequencies)
    get = lambda name: table.column(name).to_numpy()  # noqa: E731
    for field in ("ac", "an", "nhomalt", "ac_raw", "an_raw", "nhemi"):
        assert np.array_equal(get(field), get(column(field, "XX")) + get(column(field, "XY")))
        regions = sum(get(column(field, s)) for s in STRATA[3:])
        assert np.array_equal(get(field), regions)
    assert ((get("ac_raw") > 0) | (get("seen_unknown_coverage") > 0)).all()
    assert (get("seen_unknown_coverage") > 0).any()  # the delivery's plain VCFs
    assert (get("ac") <= get("ac_raw")).all() and (get("an") <= get("an_raw")).all()
    an = get("an")
    assert np.allclose(get("af")[an > 0], (get("ac") / np.where(an > 0, an, 1))[an > 0])
    assert (get("faf95") <= np.nan_to_num(get("af"))).all()
    nonpar_x = (table.column("chrom").to_numpy(zero_copy_only=False) == "chrX") & (
        get("pos") > 2_781_479
    )
    assert get("nhemi")[nonpar_x].sum() > 0 and get("nhemi")[~nonpar_x].sum() == 0
    assert (get(column("nhemi", "XX")) == 0).all()


def test_a_release_is_written_chunk_by_chunk_as_the_whole_table(
    delivery: Path,
    manifest_rows: list[dict[str, str]],
    reference: Path,
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A release leaving genomes out (of a joint batch, a gVCF and a plain VCF with callable
    regions) is computed one 16 kb chunk at a time: its Parquet table equals the whole
    table of a store that never held those genomes, in row groups of 65,536 rows, and the
    served copy reads back the same rows."""
    from genomics_variants.contributions.remove import without_genomes
    from genomics_variants.frequencies.query import FrequencyIndex
    from genomics_variants.frequencies.release import ROW_GROUP, frequency_table

    leaving = one_genome_of_each_kind(delivery, manifest_rows)
    store = Store(tmp_path / "store", chunk_bits=14)
    ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    assert len(store.load().chunks.files) > 10
    view = without_genomes(store, store.load(), leaving)
    release = write_release(store, view)

    never = Store(tmp_path / "never")
    cpr = {r["genome_id"]: r["cpr"] for r in manifest_rows}
    gone = [person_key(cpr[g]) for g in leaving]
    ingest_files(never, [delivery], reference, key=load_key(), workers=2, exclude_persons=gone)
    expected = frequency_table(never.load())
    assert pq.read_table(release.frequencies).equals(expected)
    assert release.meta["variant_count"] == expected.num_rows
    for path in release.frequency_files():
        file = pq.ParquetFile(path)
        sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
        assert all(size == ROW_GROUP for size in sizes[:-1])
    index = FrequencyIndex(release)
    served = index.table(np.arange(len(index)))
    assert served.cast(expected.schema).equals(expected)
