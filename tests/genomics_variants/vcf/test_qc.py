"""gnomAD adj genotype QC."""

from __future__ import annotations

import numpy as np
import pytest

from genomics_variants.vcf.genotypes import VECTOR_END, normalise_missing
from genomics_variants.vcf.qc import QCConfig, adj_mask
from medfollow_core.errors import MedfollowError


def _adj(calls, gq, dp, ad, config=None, fields=("GQ", "DP", "AD")) -> list[bool]:
    alleles = np.array([calls], dtype=np.int16)
    first, second = alleles[..., 0].copy(), alleles[..., 1].copy()
    half = normalise_missing(first, second)
    width = max(len(a) for a in ad)
    ad_array = np.full((1, len(ad), width), -1, dtype=np.int32)
    for i, values in enumerate(ad):
        ad_array[0, i, : len(values)] = values
    return adj_mask(
        config or QCConfig(),
        first=first,
        second=second,
        gq=np.array([gq], dtype=np.int32) if "GQ" in fields else None,
        dp=np.array([dp], dtype=np.int32) if "DP" in fields else None,
        ad=ad_array if "AD" in fields else None,
        half=half,
    )[0].tolist()


def test_thresholds() -> None:
    calls = [
        (0, 0),
        (0, 0),
        (0, 0),
        (1, VECTOR_END),
        (1, VECTOR_END),
        (0, 1),
        (0, 1),
        (1, 2),
        (1, 2),
        (-1, -1),
    ]
    gq = [20, 19, 30, 30, 30, 30, 30, 30, 30, 0]
    dp = [10, 40, 9, 5, 4, 20, 20, 20, 20, 0]
    ad = [[10, 0], [40, 0], [9, 0], [0, 5], [0, 4], [16, 4], [17, 3], [2, 9, 9], [0, 17, 3], [0, 0]]
    assert _adj(calls, gq, dp, ad) == [
        True,
        False,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_half_missing_calls_keep_the_diploid_depth_threshold() -> None:
    """A half-missing call counts as a haploid ALT call but needs DP >= 10, not the haploid 5."""
    calls = [(-1, 1), (1, -1), (-1, 1), (1, VECTOR_END)]
    assert _adj(calls, [30] * 4, [6, 6, 10, 6], [[0, 6], [0, 6], [0, 10], [0, 6]]) == [
        False,
        False,
        True,
        True,
    ]


def test_missing_fields_skip_their_criterion_and_none_passes_all_calls() -> None:
    calls = [(0, 1), (0, 0), (-1, -1)]
    gq, dp, ad = [5, 5, 5], [2, 2, 2], [[1, 1], [2, 0], [0, 0]]
    assert _adj(calls, gq, dp, ad, fields=()) == [True, True, False]
    assert _adj(calls, gq, dp, ad, config=QCConfig.named("none")) == [True, True, False]
    assert _adj(calls, gq, [30, 30, 30], [[15, 15], [30, 0], [0, 0]], fields=("DP", "AD")) == [
        True,
        True,
        False,
    ]


def test_named_configs() -> None:
    assert QCConfig.named("adj") == QCConfig()
    assert not QCConfig.named("none").enabled
    with pytest.raises(MedfollowError, match="unknown QC"):
        QCConfig.named("strict")
