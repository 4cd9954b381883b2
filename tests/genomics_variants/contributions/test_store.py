"""The contribution store: one sample's codes are found through row-group statistics."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions import store as store_module
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store, binary_to_codes, rows_to_binary
from medfollow_core.pseudonymise import load_key


def test_codes_round_trip() -> None:
    codes = np.random.default_rng(1).integers(0, 64, size=(7, 5)).astype(np.uint8)
    assert np.array_equal(binary_to_codes(rows_to_binary(codes.T), 7), codes)
    assert binary_to_codes(rows_to_binary(codes[:0].T), 0).shape == (0, 5)


def test_one_sample_is_read_without_scanning_the_batch(
    delivery: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CALLS_ROW_GROUP", 8)
    store = Store(tmp_path / "store")
    state = ingest_files(
        store, [delivery / "joint" / "cohort.vcf.gz"], reference, key=load_key()
    ).state
    batch = state.batches.to_pylist()[0]
    calls = store.batch_dir(batch["batch_id"]) / batch["calls_file"]
    assert calls.parent.name == f"batch={batch['batch_id']}"  # partitioned by batch
    meta = pq.ParquetFile(calls).metadata
    assert meta.num_row_groups >= 4
    bounds = [
        (meta.row_group(i).column(0).statistics.min, meta.row_group(i).column(0).statistics.max)
        for i in range(meta.num_row_groups)
    ]
    assert all(hi < lo for (_, hi), (lo, _) in itertools.pairwise(bounds))  # sorted, disjoint
    ids, codes = store.batch_calls(batch["batch_id"], batch["calls_file"], batch["n_sites"])
    wanted = ids[len(ids) // 2]
    one_ids, one = store.batch_calls(
        batch["batch_id"], batch["calls_file"], batch["n_sites"], [wanted]
    )
    assert one_ids == [wanted]
    assert np.array_equal(one[:, 0], codes[:, ids.index(wanted)])


@pytest.mark.parametrize(
    "columns",
    [
        {"chrom": ["chr17"], "start": [10], "end": [20], "code": ["ten"]},  # a column retyped
        {"chrom": ["chr17"], "start": [None], "end": [20], "code": [10]},  # a gap
        {"chrom": ["chr17"], "start": [-5], "end": [20], "code": [10]},  # no such position
        {"chrom": ["chr17"], "start": [10], "end": [1 << 40], "code": [10]},
        {"chrom": ["chr17"], "start": [10], "end": [20]},  # a column missing
    ],
)
def test_a_blocks_file_that_reads_but_is_not_the_stores_is_refused_in_one_line(
    tmp_path: Path, columns: dict[str, list[object]]
) -> None:
    """A blocks file that still parses as Parquet but is not what the store writes (types,
    gaps, positions no contig holds) is refused naming its batch, before any position
    arithmetic on it (a null start once became a 64 TiB allocation)."""
    import pyarrow as pa

    from genomics_variants.contributions.store import BLOCKS_SCHEMA, read_blocks
    from medfollow_core.errors import MedfollowError

    folder = tmp_path / "batch=000012-0003"
    folder.mkdir()
    typed = {
        name: pa.array(values, BLOCKS_SCHEMA.field(name).type)
        if name != "code" or not isinstance(values[0], str)
        else pa.array(values)
        for name, values in columns.items()
    }
    pq.write_table(pa.table(typed), folder / "blocks.parquet")
    with pytest.raises(MedfollowError, match="the blocks file of batch 3 of generation 12 is"):
        read_blocks(folder / "blocks.parquet")


def test_a_batch_is_named_in_words_the_cpr_scrubber_leaves_alone() -> None:
    """A batch id (six digits, a hyphen, four) is shaped like a CPR number, and every
    message is scrubbed: named by its parts, it reaches the user."""
    from genomics_variants.contributions.store import batch_label
    from medfollow_core.errors import MedfollowError

    assert str(MedfollowError("batch 000012-0003")) == "batch <cpr>"
    assert str(MedfollowError(batch_label("000012-0003"))) == "batch 3 of generation 12"
