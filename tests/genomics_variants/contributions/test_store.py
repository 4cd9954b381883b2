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
