"""The national variant-frequency database: genomes in, privacy-controlled allele counts out.

The flow, one subpackage per stage:

    vcf/            read VCF/BCF/gVCF (pysam parses text, cyvcf2 gives arrays), check
                    assembly and REF, normalise as `bcftools norm -m -any`, genotype QC
                    (gnomAD adj), one code per call
    contributions/  per-sample contributions in Parquet, the working aggregate, exact add and
                    remove (opt-out), sample manifest and warehouse look-ups
    frequencies/    releases (Parquet and `variants.frequencies`), strata, faf95, look-ups,
                    exports (VCF, Parquet, TSV)
    api/            GA4GH Beacon v2 and frequency API with privacy tiers, tokens, budgets,
                    audit log

`pipeline` runs the operations end to end; the CLI is `medfollow variants`.
"""

from genomics_variants.contributions.remove import recompute
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.export import export_release
from genomics_variants.frequencies.query import FrequencyIndex, parse_query
from genomics_variants.pipeline import ingest, publish, release_of, remove, sync_optouts
from genomics_variants.vcf.qc import QCConfig

__all__ = [
    "FrequencyIndex",
    "QCConfig",
    "Store",
    "export_release",
    "ingest",
    "parse_query",
    "publish",
    "recompute",
    "release_of",
    "remove",
    "sync_optouts",
]
