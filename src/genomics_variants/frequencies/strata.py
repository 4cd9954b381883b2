"""Published strata and the per-variant fields of a release, computed from cells: the
reference for what every published number means.

Strata: `all`, sex (`XX`, `XY`) and region of residence (`nordjylland` ... `sjaelland`,
`unknown`). Fields per stratum (columns `<field>` for `all`, `<field>_<stratum>` otherwise):

    ac, an, af       ALT allele count, allele number (called alleles), ac / an (null if an 0)
    nhomalt          diploid homozygous-ALT genotypes
    nhemi            hemizygous ALT calls: haploid calls of XY persons on chrX/chrY outside
                     the PARs (0 elsewhere)
    faf95            filtering allele frequency (faf.py), from ac and an
    call_rate        called / samples whose file speaks about the variant
    <field>_raw      ac, an, af, nhomalt, nhemi, call_rate before genotype QC

The unsuffixed fields use QC-passing (adj) genotypes. Raw ac/an/af/nhomalt equal
`bcftools +fill-tags -t AC,AN,AF,AC_Hom` (nhomalt = AC_Hom / 2) on the same calls.
grpmax fields (on `all` only): the region (not `unknown`) with the highest adj AF among those
with ac > 0 (`grpmax`, `grpmax_ac`, `grpmax_an`, `grpmax_af`), and the highest regional
faf95 (`faf95_max`, `faf95_max_region`).
`seen_unknown_coverage` (on `all` only): "also seen in N samples of unknown coverage", the
samples carrying the ALT whose file gives no callability (a plain single-sample VCF
delivered without a callable-regions BED). They are in no other field.

Conventions (gnomAD's, written down once; the code that applies each is named):

* AN counts a sample at a site only where its callability there is known: a joint call, a
  gVCF reference block, or the callable-regions BED of a plain VCF; never by assuming
  hom-ref where a file has no record (contributions/aggregate.py, vcf/callable.py).
* A sample of unknown coverage adds to `seen_unknown_coverage` only: AF is never computed
  over such samples (contributions/measures.py).
* faf95 = 0 for AC <= 1, as Hail's `faf_expr` (faf.py).
* Ploidy follows the karyotype outside the PARs (GRCh38 chrX PAR1 10,001-2,781,479, PAR2
  155,701,383-156,030,895; chrY likewise): XY persons are haploid on chrX and chrY, XX
  persons contribute nothing anywhere on chrY. gVCF blocks and BED intervals are cut at the PAR
  boundaries first, so no block carries a ploidy across one (assembly.par_pieces,
  vcf/genotypes.py).
* Half-missing genotypes ("./1") count their called allele, as `bcftools +fill-tags`: a
  haploid call (AN 1, AC 1 if ALT, in nhap, never in nhomalt) (vcf/genotypes.py).
* chrM is not counted: nuclear-genome callers give diploid genotypes without heteroplasmy
  levels, and gnomAD's mitochondrial counts (haploid AN, homoplasmic and heteroplasmic
  counts) need those; its records are skipped and reported (assembly.UNCOUNTED_CONTIGS).
"""

from __future__ import annotations

import numpy as np

from genomics_variants.assembly import sex_nonpar
from genomics_variants.contributions.cells import (
    REGIONS,
    SEXES,
    UNKNOWN_REGION,
    cells_of_region,
    cells_of_sex,
)
from genomics_variants.contributions.measures import M
from genomics_variants.frequencies.faf import filtering_af
from genomics_variants.sites import Sites
from medfollow_core.types import where_else_null

STRATA: tuple[str, ...] = ("all", *SEXES, *REGIONS)
GROUP_STRATA = tuple(r for r in REGIONS if r != UNKNOWN_REGION)
FIELDS = ("ac", "an", "af", "nhomalt", "nhemi", "faf95", "call_rate")
RAW_FIELDS = ("ac_raw", "an_raw", "af_raw", "nhomalt_raw", "nhemi_raw", "call_rate_raw")
COUNT_FIELDS = ("ac", "an", "nhomalt", "nhemi", "ac_raw", "an_raw", "nhomalt_raw", "nhemi_raw")
GRPMAX_FIELDS = ("grpmax", "grpmax_ac", "grpmax_an", "grpmax_af", "faf95_max", "faf95_max_region")
UNKNOWN_COVERAGE_FIELD = "seen_unknown_coverage"


def _ratio_columns() -> dict[str, tuple[str, str]]:
    """Fields that are one count over another (`_ratio`: null where the denominator is 0),
    by column: a copy of the release may store the counts only (served.py)."""
    out = {"grpmax_af": ("grpmax_ac", "grpmax_an")}
    for stratum in STRATA:
        for suffix in ("", "_raw"):
            out[column(f"af{suffix}", stratum)] = (
                column(f"ac{suffix}", stratum),
                column(f"an{suffix}", stratum),
            )
    return out


def stratum_cells(stratum: str) -> np.ndarray:
    if stratum == "all":
        return np.arange(len(SEXES) * len(REGIONS))
    if stratum in SEXES:
        return cells_of_sex(stratum)
    return cells_of_region(stratum)


def column(field: str, stratum: str) -> str:
    """Column name of a field for a stratum."""
    return field if stratum == "all" else f"{field}_{stratum}"


RATIO_COLUMNS = _ratio_columns()


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def stratum_fields(sites: Sites, counts: np.ndarray, stratum: str) -> dict[str, np.ndarray]:
    """The fields of one stratum from (variants, cells, measures) counts."""
    cells = stratum_cells(stratum)
    summed = counts[:, cells, :].sum(axis=1, dtype=np.int64)
    xy_cells = np.intersect1d(cells, cells_of_sex("XY"))
    nonpar = np.zeros(len(sites), dtype=bool)
    for chrom in ("chrX", "chrY"):
        at = sites.chrom == chrom
        nonpar[at] = sex_nonpar(chrom, sites.pos[at])
    out: dict[str, np.ndarray] = {}
    for suffix, tag in (("", "_adj"), ("_raw", "")):
        ac, an = summed[:, M[f"ac{tag}"]], summed[:, M[f"an{tag}"]]
        hemi = counts[:, xy_cells, M[f"nhap{tag}"]].sum(axis=1, dtype=np.int64)
        out[f"ac{suffix}"] = ac
        out[f"an{suffix}"] = an
        out[f"af{suffix}"] = _ratio(ac, an)
        out[f"nhomalt{suffix}"] = summed[:, M[f"nhomalt{tag}"]]
        out[f"nhemi{suffix}"] = np.where(nonpar, hemi, 0)
        out[f"call_rate{suffix}"] = _ratio(summed[:, M[f"called{tag}"]], summed[:, M["n"]])
    out["faf95"] = filtering_af(out["ac"], out["an"])
    out[UNKNOWN_COVERAGE_FIELD] = summed[:, M["seen_unknown"]]
    return out


def grpmax_fields(by_stratum: dict[str, dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    """grpmax and faf95_max over the regional strata (see module docstring)."""
    af = np.stack([by_stratum[g]["af"] for g in GROUP_STRATA], axis=1)
    ac = np.stack([by_stratum[g]["ac"] for g in GROUP_STRATA], axis=1)
    an = np.stack([by_stratum[g]["an"] for g in GROUP_STRATA], axis=1)
    faf = np.stack([by_stratum[g]["faf95"] for g in GROUP_STRATA], axis=1)
    usable = ac > 0
    best = np.argmax(np.where(usable, np.nan_to_num(af, nan=-1.0), -1.0), axis=1)
    rows = np.arange(n)
    has = usable.any(axis=1)
    best_faf = np.argmax(np.where(usable, faf, -1.0), axis=1)
    names = np.array(GROUP_STRATA, dtype=object)
    return {
        "grpmax": where_else_null(has, names[best]),
        "grpmax_ac": np.where(has, ac[rows, best], 0),
        "grpmax_an": np.where(has, an[rows, best], 0),
        "grpmax_af": np.where(has, af[rows, best], np.nan),
        "faf95_max": np.where(has, faf[rows, best_faf], 0.0),
        "faf95_max_region": where_else_null(has, names[best_faf]),
    }
