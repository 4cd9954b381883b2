"""Decoding BCF integers and GT slots in place equals the plain implementations kept here
as oracles (copy each type's rows out, compare, write back), on random blocks of every type,
views and slices; a record's AD row holds -1 beyond its own alleles."""

from __future__ import annotations

import numpy as np
import pytest

from genomics_variants.vcf import block as block_module
from genomics_variants.vcf.bcf import (
    INT32_END,
    INT32_MISSING,
    INT_TYPES,
    Record,
    decode_alleles,
    decode_ints,
)
from genomics_variants.vcf.genotypes import VECTOR_END


# ------------------------------------------------------------------ the code before 323b59a
def old_decode_alleles(slots: np.ndarray, kinds: np.ndarray) -> None:
    for kind in (1, 2):
        rows = np.flatnonzero(kinds == kind)
        if len(rows):
            raw = slots[rows]
            slots[rows] = np.where(raw == INT_TYPES[kind][2], VECTOR_END, (raw >> 1) - 1)


def old_decode_ints(values: np.ndarray, kinds: np.ndarray) -> None:
    for kind in (1, 2):
        rows = np.flatnonzero(kinds == kind)
        if len(rows):
            raw = values[rows]
            _, missing, end = INT_TYPES[kind]
            raw[raw == missing] = INT32_MISSING
            raw[raw == end] = INT32_END
            values[rows] = raw


# ------------------------------------------------------------------ random raw blocks
_NEAR = {
    1: [-128, -127, -126, -125, -1, 0, 1, 126, 127],
    2: [-32768, -32767, -32766, -32760, -129, -128, -127, -126, -1, 0, 1, 32767],
    3: [
        INT32_MISSING,
        INT32_END,
        INT32_END + 1,
        -32768,
        -32767,
        -32766,
        -32760,
        -129,
        -128,
        -127,
        -126,
        -1,
        0,
        1,
        2**31 - 1,
    ],
    0: [-1],  # absent: the block writes -1
}


def _row(rng: np.random.Generator, kind: int, shape: tuple[int, ...]) -> np.ndarray:
    if kind == 0:
        return np.full(shape, -1, dtype=np.int32)
    lo, hi = np.iinfo(INT_TYPES[kind][0]).min, np.iinfo(INT_TYPES[kind][0]).max
    uniform = rng.integers(lo, hi, size=shape, endpoint=True)
    near = rng.choice(_NEAR[kind], size=shape)
    small = rng.integers(-2, 60, size=shape)
    pick = rng.integers(0, 3, size=shape)
    return np.choose(pick, [uniform, near, small]).astype(np.int32)


def _raw_block(
    rng: np.random.Generator, rows: int, samples: int, width: int | None, kinds_pool: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    shape = (samples,) if width is None else (samples, width)
    kinds = rng.choice(kinds_pool, size=rows).astype(np.uint8)
    values = np.empty((rows, *shape), dtype=np.int32)
    for r, k in enumerate(kinds.tolist()):
        values[r] = _row(rng, k, shape)
    return values, kinds


_POOLS = [[1], [2], [3], [0], [1, 2], [1, 3], [2, 3], [0, 1, 2, 3], [0, 1], [0, 2]]


@pytest.mark.parametrize("seed", range(40))
def test_decode_ints_matches_before_on_random_blocks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        rows = int(rng.integers(0, 9))
        samples = int(rng.integers(0, 7))
        width = None if rng.random() < 0.4 else int(rng.integers(0, 6))
        pool = _POOLS[int(rng.integers(len(_POOLS)))]
        values, kinds = _raw_block(rng, rows, samples, width, pool)
        expected = values.copy()
        old_decode_ints(expected, kinds)
        got = values.copy()
        decode_ints(got, kinds)
        assert np.array_equal(got, expected), (kinds, values, got, expected)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("layout", ["prefix", "strided", "fortran", "transposed_ad", "rows_step"])
def test_decode_ints_writes_back_through_views(seed: int, layout: str) -> None:
    """values[:rows] of a larger (reused) buffer, or a non-C-contiguous view: the decoded
    values land in the buffer; nothing outside the view is touched."""
    rng = np.random.default_rng(1000 + seed)
    capacity = 12
    rows = int(rng.integers(0, capacity + 1))
    samples, width = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    buffer, kinds_all = _raw_block(rng, capacity, samples, width, [0, 1, 2, 3])
    kinds = kinds_all[:rows]
    expected_buffer = buffer.copy()
    got_buffer = buffer.copy()
    if layout == "prefix":
        view = lambda b: b[:rows]  # noqa: E731
    elif layout == "strided":
        view = lambda b: b[:rows, :, ::2]  # noqa: E731
    elif layout == "fortran":
        expected_buffer = np.asfortranarray(expected_buffer)
        got_buffer = np.asfortranarray(got_buffer)
        view = lambda b: b[:rows]  # noqa: E731
    elif layout == "transposed_ad":
        # rows kept first, but samples and values swapped: not C-contiguous
        view = lambda b: b[:rows].transpose(0, 2, 1)  # noqa: E731
    else:
        kinds = kinds_all[:capacity:2][: len(range(0, capacity, 2))]
        view = lambda b: b[::2]  # noqa: E731
    old_decode_ints(view(expected_buffer), kinds)
    decode_ints(view(got_buffer), kinds)
    assert np.array_equal(got_buffer, expected_buffer)


def test_decode_ints_legitimate_negatives_near_sentinels() -> None:
    values = np.array(
        [
            [[-128, -127, -126, 5]],  # int8 row
            [[-32768, -32767, -32766, -32760]],  # int16 row
            [[-128, -127, -126, -129]],  # int16 row: these are values, not sentinels
            [[-32768, -32767, -127, -128]],  # int32 row: values
            [[-128, -127, -32768, -32767]],  # kind 0: decoded already
        ],
        dtype=np.int32,
    )
    kinds = np.array([1, 2, 2, 3, 0], dtype=np.uint8)
    decode_ints(values, kinds)
    assert values[0, 0].tolist() == [INT32_MISSING, INT32_END, -126, 5]
    assert values[1, 0].tolist() == [INT32_MISSING, INT32_END, -32766, -32760]
    assert values[2, 0].tolist() == [-128, -127, -126, -129]
    assert values[3, 0].tolist() == [-32768, -32767, -127, -128]
    assert values[4, 0].tolist() == [-128, -127, -32768, -32767]


def test_decode_ints_empty_blocks() -> None:
    for shape in [(0, 3), (0, 3, 2), (2, 0), (2, 3, 0), (2, 0, 4)]:
        values = np.full(shape, -128, dtype=np.int32)
        decode_ints(values, np.ones(shape[0], dtype=np.uint8))
        assert (values == -128).all() or values.size == 0


# ------------------------------------------------------------------ GT
def _gt_row(rng: np.random.Generator, kind: int, samples: int) -> np.ndarray:
    if kind == 0:  # decoded already: allele index, MISSING (-1) or VECTOR_END
        return rng.choice([-1, VECTOR_END, 0, 1, 2, 70], size=samples).astype(np.int16)
    end = INT_TYPES[kind][2]
    allele = rng.integers(0, 64 if kind == 1 else 400, size=samples)
    phased = rng.integers(0, 2, size=samples)
    encoded = ((allele + 1) << 1) | phased
    special = rng.choice([0, 1, end, INT_TYPES[kind][1]], size=samples)  # missing, end
    if kind == 1:
        encoded = np.clip(encoded, -128, 127)
    return np.where(rng.random(samples) < 0.3, special, encoded).astype(np.int16)


@pytest.mark.parametrize("seed", range(40))
def test_decode_alleles_matches_before(seed: int) -> None:
    rng = np.random.default_rng(5000 + seed)
    for _ in range(25):
        capacity = int(rng.integers(0, 10))
        rows = int(rng.integers(0, capacity + 1))
        samples = int(rng.integers(0, 6))
        pool = [[1], [2], [0], [1, 2], [0, 1], [0, 1, 2], [0, 2]][int(rng.integers(7))]
        kinds_all = rng.choice(pool, size=capacity).astype(np.uint8)
        buffer = np.empty((capacity, samples), dtype=np.int16)
        for r, k in enumerate(kinds_all.tolist()):
            buffer[r] = _gt_row(rng, k, samples)
        expected, got = buffer.copy(), buffer.copy()
        old_decode_alleles(expected[:rows], kinds_all[:rows])
        decode_alleles(got[:rows], kinds_all[:rows])
        assert np.array_equal(got, expected)


# ------------------------------------------------------------------ AD in the block
def _record(ad: np.ndarray | None, kind: int = 1, samples: int = 2) -> Record:
    raw = {"GT": (1, np.array([[2, 4]] * samples, dtype=np.int8))}
    if ad is not None:
        raw["AD"] = (kind, ad)
    return Record("chr1", 1, 1, "A", ["C"], raw)


def test_ad_buffer_growing_mid_block_pads_earlier_rows_with_minus_one() -> None:
    block = block_module.RecordBlock(2, gq=False, dp=False, ad=True)
    block.ad[...] = 12345  # what np.empty may hold, or an earlier block left
    block.add(_record(np.array([[1, 2], [3, 4]], dtype=np.int8)), "DP")
    block.add(_record(None), "DP")
    block.add(
        _record(np.array([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]], dtype=np.int16), 2), "DP"
    )
    block.add(_record(np.array([[-128, -127], [9, -127]], dtype=np.int8)), "DP")
    block.decode()
    ad = block.ad[: len(block)]
    assert ad.shape[2] == 6
    assert ad[0].tolist() == [[1, 2, -1, -1, -1, -1], [3, 4, -1, -1, -1, -1]]
    assert (ad[1] == -1).all()
    assert ad[2].tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
    assert ad[3].tolist() == [
        [INT32_MISSING, INT32_END, -1, -1, -1, -1],
        [9, INT32_END, -1, -1, -1, -1],
    ]
    # the next block reuses the grown buffer: a narrow row keeps nothing of the wide one
    block.reset("chr1")
    block.add(_record(np.array([[5], [6]], dtype=np.int8)), "DP")
    block.decode()
    assert block.ad[0].tolist() == [[5, -1, -1, -1, -1, -1], [6, -1, -1, -1, -1, -1]]
