"""Per-call sequencing evidence (GT, GQ, DP, AD) for a block of sites, fully vectorised.

The variant-frequency database applies gnomAD's "adj" genotype QC (GQ >= 20, DP >= 10, or
>= 5 for haploid calls, heterozygous allele balance >= 0.2). The evidence here is shaped so
that each rule has something to remove: a low-depth tail, GQ that falls with depth, a few
heterozygous calls with skewed allele balance, and some missing calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_deliveries.genomes_sites import MAX_ALLELES, NO_ALLELE

MISSING = -1
MAX_DEPTH = 999

MEAN_COVERAGE = 32.0
COVERAGE_SD = 5.0
LOW_DEPTH_SHARE = 0.04  # calls in a poorly covered stretch (depth scaled down 3-30x)
DROPOUT_SHARE = 0.004  # calls missing regardless of depth
SKEWED_HET_SHARE = 0.04  # heterozygous calls with allele balance below 0.2
ERROR_RATE = 0.006  # reads supporting an allele not in the genotype


@dataclass(frozen=True)
class Calls:
    """Genotype calls for sites x samples.

    `a1 <= a2` are allele indices (unphased, so sorted); a missing call has a1 = MISSING,
    and a haploid call has a2 = NO_ALLELE. `ad` holds one depth per allele slot.
    """

    a1: np.ndarray
    a2: np.ndarray
    dp: np.ndarray
    gq: np.ndarray
    ad: np.ndarray

    def select(self, columns: np.ndarray) -> Calls:
        """The same calls restricted to a subset of samples."""
        return Calls(
            self.a1[:, columns],
            self.a2[:, columns],
            self.dp[:, columns],
            self.gq[:, columns],
            self.ad[:, columns],
        )

    def rows(self, sites: np.ndarray) -> Calls:
        """The same calls restricted to a subset of sites (index or boolean mask)."""
        return Calls(self.a1[sites], self.a2[sites], self.dp[sites], self.gq[sites], self.ad[sites])

    @classmethod
    def concat(cls, parts: list[Calls]) -> Calls:
        """Stack blocks of sites simulated one after another."""
        fields = ("a1", "a2", "dp", "gq", "ad")
        return cls(*(np.concatenate([getattr(part, f) for part in parts]) for f in fields))


def sample_coverage(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Mean sequencing depth per sample (genomes differ in how deeply they were sequenced)."""
    return np.clip(rng.normal(MEAN_COVERAGE, COVERAGE_SD, n_samples), 14.0, 60.0)


def _depth(
    shape: tuple[int, int], coverage: np.ndarray, haploid: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Over-dispersed read depth with a low-depth tail; one X copy gets half the reads."""
    site_factor = rng.lognormal(0.0, 0.2, size=(shape[0], 1))
    rate = coverage[None, :] * site_factor * rng.gamma(8.0, 1 / 8.0, size=shape)
    rate = np.where(haploid[None, :], rate / 2, rate)
    low = rng.random(shape) < LOW_DEPTH_SHARE
    rate = np.where(low, rate * rng.uniform(0.03, 0.3, size=shape), rate)
    return np.minimum(rng.poisson(rate), MAX_DEPTH)


def _allele_depths(
    a1: np.ndarray, a2: np.ndarray, dp: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AD consistent with the genotype and DP, and the reads behind each genotype allele.

    Returns (ad, reads on a1, reads on a2); sequencing errors land on REF, or on the first
    ALT when the genotype is all-REF, so hom-ref calls show a little alt evidence too.
    Allele balance is drawn only for heterozygous calls: they are a minority, and the
    draws dominate the cost at national-cohort scale.
    """
    het = (a1 != a2) & (a2 != NO_ALLELE)
    errors = rng.binomial(dp, ERROR_RATE)
    good = dp - errors
    het_good = good[het]
    balance = np.where(
        rng.random(len(het_good)) < SKEWED_HET_SHARE,
        rng.uniform(0.04, 0.19, size=len(het_good)),
        rng.beta(20.0, 20.0, size=len(het_good)),
    )
    on_a2 = np.zeros_like(good)
    # A caller only calls a het with reads on both alleles.
    on_a2[het] = np.minimum(
        np.maximum(rng.binomial(het_good, balance), 1), np.maximum(het_good - 1, 0)
    )
    on_a1 = good - on_a2

    cells = np.arange(dp.size)
    first = a1.ravel().astype(np.intp)
    second = np.where(a2 == NO_ALLELE, a1, a2).ravel().astype(np.intp)
    error_allele = np.where((a1 == 0) & ((a2 == 0) | (a2 == NO_ALLELE)), 1, 0).ravel()
    ad = np.zeros((dp.size, MAX_ALLELES), dtype=np.int32)
    ad[cells, first] = on_a1.ravel()
    ad[cells, second] += on_a2.ravel()  # zero unless heterozygous
    ad[cells, error_allele] += errors.ravel()
    return ad.reshape(*dp.shape, MAX_ALLELES), on_a1, on_a2


def _genotype_quality(
    het: np.ndarray,
    dp: np.ndarray,
    on_a1: np.ndarray,
    on_a2: np.ndarray,
    errors: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """GQ rising with depth, and for hets with the reads on the weaker allele; capped at 99."""
    noise = rng.lognormal(0.0, 0.25, size=dp.shape)
    hom = 3.0 * dp * noise - 6.0 * errors
    heterozygous = 6.0 * np.minimum(on_a1, on_a2) * noise
    return np.clip(np.rint(np.where(het, heterozygous, hom)), 0, 99).astype(np.int32)


def simulate_calls(
    hap: np.ndarray,
    haploid: np.ndarray,
    coverage: np.ndarray,
    rng: np.random.Generator,
) -> Calls:
    """Calls for a block of sites (`hap`: sites x samples x 2) across all samples at once."""
    h1, h2 = hap[..., 0].astype(np.int8), hap[..., 1].astype(np.int8)
    is_haploid = h2 == NO_ALLELE
    a1 = np.where(is_haploid, h1, np.minimum(h1, h2))
    a2 = np.where(is_haploid, h2, np.maximum(h1, h2))
    dp = _depth(a1.shape, coverage, haploid, rng)
    ad, on_a1, on_a2 = _allele_depths(a1, a2, dp, rng)
    het = (a1 != a2) & ~is_haploid
    errors = dp - on_a1 - on_a2
    gq = _genotype_quality(het, dp, on_a1, on_a2, errors, rng)
    missing = (
        (dp == 0)
        | ((dp < 4) & (rng.random(dp.shape) < 0.5))
        | (rng.random(dp.shape) < DROPOUT_SHARE)
    )
    a1 = np.where(missing, MISSING, a1).astype(np.int8)
    a2 = np.where(missing & ~is_haploid, MISSING, a2).astype(np.int8)
    ad[missing] = 0
    return Calls(a1, a2, np.where(missing, 0, dp).astype(np.int32), np.where(missing, 0, gq), ad)


def compact_alleles(
    calls: Calls, alleles: np.ndarray, n_alleles: np.ndarray
) -> tuple[Calls, np.ndarray, np.ndarray]:
    """Drop ALT alleles no sample in `calls` carries, renumbering genotypes and AD.

    A joint VCF lists only alleles seen in its own samples; sites left without any ALT
    get n_alleles == 1 and are for the caller to drop.
    """
    present = np.stack(
        [((calls.a1 == j) | (calls.a2 == j)).any(axis=1) for j in range(MAX_ALLELES)], axis=1
    )
    present[:, 0] = True
    present &= np.arange(MAX_ALLELES)[None, :] < n_alleles[:, None]
    order = np.argsort(~present, axis=1, kind="stable")
    new_index = (np.cumsum(present, axis=1) - 1).astype(np.int8)

    def renumber(allele: np.ndarray) -> np.ndarray:
        mapped = np.take_along_axis(new_index, np.maximum(allele, 0).astype(np.intp), axis=1)
        return np.where(allele >= 0, mapped, allele).astype(np.int8)

    kept = present.sum(axis=1)
    new_alleles = np.take_along_axis(alleles, order, axis=1)
    new_alleles[np.arange(MAX_ALLELES)[None, :] >= kept[:, None]] = b""
    ad = np.take_along_axis(calls.ad, order[:, None, :], axis=2)
    compacted = Calls(renumber(calls.a1), renumber(calls.a2), calls.dp, calls.gq, ad)
    return compacted, new_alleles, kept
