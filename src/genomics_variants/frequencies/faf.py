"""Filtering allele frequency (Whiffin et al. 2017, Genet Med 19:1151), as gnomAD reports it.

faf95 is the highest true allele frequency at which observing AC or more alternate alleles
among AN is still as unlikely as 5%, with the allele count modelled as Poisson(AN x AF): the
AF solving P(X >= AC | lambda = AN x AF) = 0.05. Because P(X >= k | lambda) is the
regularised lower incomplete gamma function P(k, lambda), the root is exact:
lambda = P^-1(AC, 0.05), faf95 = lambda / AN. A variant whose faf95 exceeds the maximum
credible population AF of a disorder can be filtered as too common to cause it.

A singleton (AC <= 1) gets faf95 = 0, as Hail's `faf_expr` and gnomAD give it: one allele is
no evidence of any frequency, and the Poisson bound 0.0513 / AN would exceed the maximum
credible AF of rare dominant disorders at regional AN, filtering out a novel pathogenic
variant.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv

TAIL = 0.05


def filtering_af(ac: np.ndarray, an: np.ndarray, tail: float = TAIL) -> np.ndarray:
    """faf for arrays of allele counts and numbers; 0 where AC <= 1 or AN is 0."""
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    out = np.zeros(np.broadcast(ac, an).shape, dtype=np.float64)
    ok = (ac > 1) & (an > 0)
    out[ok] = gammaincinv(ac[ok], tail) / an[ok]
    return out
