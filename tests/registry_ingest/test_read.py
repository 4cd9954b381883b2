"""Batches as the loader receives them: exact sizes, the first ones smaller."""

from __future__ import annotations

import pyarrow as pa

from registry_ingest.read import _rebatch


def _blocks(sizes: list[int]) -> list[pa.RecordBatch]:
    start = 0
    blocks = []
    for size in sizes:
        blocks.append(pa.record_batch({"n": pa.array(range(start, start + size))}))
        start += size
    return blocks


def test_first_batches_ramp_up_to_the_batch_size_and_every_row_comes_once() -> None:
    batches = list(_rebatch(iter(_blocks([7, 100, 3, 250, 1, 139])), 64))
    assert [b.num_rows for b in batches] == [8, 16, 32, 64, 64, 64, 64, 64, 64, 60]
    assert pa.Table.from_batches(batches).column("n").to_pylist() == list(range(500))


def test_a_file_smaller_than_the_first_batch_is_one_batch() -> None:
    batches = list(_rebatch(iter(_blocks([3, 2])), 64))
    assert [b.num_rows for b in batches] == [5]


def test_batch_size_one_never_ramps_below_one_row() -> None:
    batches = list(_rebatch(iter(_blocks([3])), 1))
    assert [b.num_rows for b in batches] == [1, 1, 1]
