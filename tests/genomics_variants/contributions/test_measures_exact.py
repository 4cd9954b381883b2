"""measure_sums multiplies histograms by the look-up table in float64 (BLAS): exact, as
the int64 product it replaced, up to far more samples than a country has."""

from __future__ import annotations

import numpy as np
import pytest

from genomics_variants.contributions import measures
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.vcf.genotypes import N_CODES


def old_measure_sums(codes, cells, rows_per_pass=32, *, covered=True):
    lut = measures.LUT if covered else measures.UNKNOWN_LUT
    n_variants, n_samples = codes.shape
    out = np.zeros((n_variants, N_CELLS, measures.N_MEASURES), dtype=np.int32)
    if not n_variants or not n_samples:
        return out
    per_row = N_CELLS * N_CODES
    offsets = (np.arange(rows_per_pass, dtype=np.intp) * per_row)[:, None] + (
        np.asarray(cells, dtype=np.intp) * N_CODES
    )[None, :]
    for lo in range(0, n_variants, rows_per_pass):
        block = codes[lo : lo + rows_per_pass]
        rows = len(block)
        keys = offsets[:rows] + block
        hist = np.bincount(keys.ravel(), minlength=rows * per_row)
        out[lo : lo + rows] = hist.reshape(rows, N_CELLS, N_CODES) @ lut
    return out


@pytest.mark.parametrize("covered", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_float64_product_equals_int64(seed: int, covered: bool) -> None:
    rng = np.random.default_rng(seed)
    n_samples = [1, 7, 2000, 60_000, 60_000, 250_000][seed]
    n_variants = [1, 33, 40, 5, 70, 3][seed]
    codes = rng.integers(0, N_CODES, size=(n_variants, n_samples)).astype(np.uint8)
    if seed >= 3:  # a cell of one code only: the largest count a cell can hold
        codes[0] = N_CODES - 1
        codes[1] = int(np.argmax(measures.LUT.sum(axis=1)))
    cells = rng.integers(0, N_CELLS, size=n_samples)
    if seed == 4:
        cells[:] = 3  # every sample in one cell
    got = measures.measure_sums(codes, cells, covered=covered)
    want = old_measure_sums(codes, cells, covered=covered)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
