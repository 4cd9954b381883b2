"""faf95 solves P(X >= AC | Poisson(AN x AF)) = 0.05 (Whiffin et al. 2017)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.stats import poisson

from genomics_variants.frequencies.faf import filtering_af


def test_singleton_is_zero_as_hail_faf_expr() -> None:
    """Hail/gnomAD give faf95 = 0 for AC <= 1 (the Poisson bound would be -ln(0.95) / AN)."""
    faf = filtering_af(np.array([1, 1, 2]), np.array([1000, 20, 1000]))
    assert faf[0] == 0 and faf[1] == 0
    assert math.isclose(faf[2], 0.3553615 / 1000, rel_tol=1e-6)


def test_matches_a_root_finder_on_the_poisson_tail() -> None:
    for ac, an in [(2, 100), (5, 2_000), (37, 10_000), (1_000, 80_000)]:
        root = brentq(lambda af: poisson.sf(ac - 1, an * af) - 0.05, 1e-12, 1.0)  # noqa: B023
        assert math.isclose(filtering_af(np.array([ac]), np.array([an]))[0], root, rel_tol=1e-7)


def test_lower_than_af_and_zero_without_data() -> None:
    ac, an = np.array([0, 3, 10, 5]), np.array([100, 0, 100, 5])
    faf = filtering_af(ac, an)
    assert faf[0] == 0 and faf[1] == 0
    assert 0 < faf[2] < 0.1 and 0 < faf[3] < 1.0
