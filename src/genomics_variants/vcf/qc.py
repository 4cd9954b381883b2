"""Genotype QC as gnomAD's "adj": which calls are good enough to count.

A call passes when GQ >= 20, DP >= 10 (>= 5 for a haploid call) and, for a heterozygous
call, every ALT allele in it carries at least 20% of the reads (AD[allele] / DP >= 0.2;
for a het between two ALT alleles both must). The check runs on the call as written in the
file, before multi-allelic splitting, so all alleles of a record share one verdict.

A half-missing call ("./1", counted as a haploid call of its called allele, genotypes.py)
is held to the diploid depth threshold: it comes from a diploid genotype with one allele
the caller could not call, not from a haploid region.

A criterion whose FORMAT field the file does not declare is skipped (and reported), so a
VCF without GQ/DP/AD, or QC switched off, gives adj == raw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genomics_variants.vcf.genotypes import VECTOR_END, het_of
from medfollow_core.errors import MedfollowError

QC_NAMES = ("adj", "none")


@dataclass(frozen=True)
class QCConfig:
    """Thresholds of the adj filter.

    min_gq: lowest genotype quality (FORMAT/GQ) of a passing call.
    min_dp: lowest read depth (FORMAT/DP; MIN_DP on gVCF reference blocks) of a diploid call.
    min_dp_haploid: the same for a haploid call (XY chrX/chrY outside the PARs).
    min_het_ab: lowest allele balance AD[allele] / DP of each ALT allele in a het call.
    enabled: False switches QC off (every call passes: adj == raw).
    """

    min_gq: int = 20
    min_dp: int = 10
    min_dp_haploid: int = 5
    min_het_ab: float = 0.2
    enabled: bool = True

    @classmethod
    def named(cls, name: str) -> QCConfig:
        """`adj` (gnomAD defaults) or `none`."""
        if name == "adj":
            return cls()
        if name == "none":
            return cls(enabled=False)
        raise MedfollowError(f"unknown QC {name!r}: use one of {', '.join(QC_NAMES)}")

    def describe(self) -> str:
        if not self.enabled:
            return "none"
        return (
            f"adj(GQ>={self.min_gq}, DP>={self.min_dp}, haploid DP>={self.min_dp_haploid}, "
            f"het AB>={self.min_het_ab})"
        )


def adj_mask(
    config: QCConfig,
    *,
    first: np.ndarray,
    second: np.ndarray,
    gq: np.ndarray | None,
    dp: np.ndarray | None,
    ad: np.ndarray | None,
    half: np.ndarray | None = None,
) -> np.ndarray:
    """Which calls pass, for a block of calls (records x samples; see genotypes.py).

    `gq` and `dp` are (records, samples) and `ad` (records, samples, >= alleles); None when
    the file lacks the field; `half` marks half-missing calls (diploid depth threshold). Missing values (negative) fail their criterion. The allele
    balance is looked at only for heterozygous calls, a minority.
    """
    ok = first >= 0
    if not config.enabled:
        return ok
    if gq is not None:
        ok &= gq >= config.min_gq
    if dp is not None:
        haploid = second == VECTOR_END
        if half is not None:
            haploid &= ~half
        if haploid.any():
            ok &= np.where(haploid, dp >= config.min_dp_haploid, dp >= config.min_dp)
        else:
            ok &= dp >= config.min_dp
    if ad is not None:
        flat_ok = ok.reshape(-1)
        het = np.flatnonzero(het_of(first, second).reshape(-1) & flat_ok)
        if len(het):
            a = first.reshape(-1)[het].astype(np.intp)
            b = second.reshape(-1)[het].astype(np.intp)
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            per_call = ad.reshape(-1, ad.shape[-1])
            if dp is not None:
                depth = dp.reshape(-1)[het].astype(np.float64)
            else:
                depth = np.clip(per_call[het], 0, None).sum(axis=1).astype(np.float64)
            floor = config.min_het_ab * depth
            balanced = (per_call[het, hi] >= floor) & (depth > 0)
            balanced &= (lo == 0) | (per_call[het, lo] >= floor)
            flat_ok[het[~balanced]] = False
    return ok
