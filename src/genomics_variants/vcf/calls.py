"""What reading a file yields: variants, genotype codes, gVCF blocks and counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics_variants.sites import Sites
from genomics_variants.vcf.header import HeaderInfo
from genomics_variants.vcf.spill import SpilledCodes

Summarise = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Blocks:
    """gVCF reference blocks (and no-call blocks) of one sample.

    `start`/`end` are 1-based inclusive; `code` is the genotype code of the block's call
    (copies always 0; ploidy 0 for a no-call block), see genotypes.py.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    code: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Blocks]) -> Blocks:
        return cls(
            np.concatenate([p.chrom for p in parts]) if parts else np.array([], dtype=str),
            np.concatenate([p.start for p in parts]) if parts else np.array([], dtype=np.int64),
            np.concatenate([p.end for p in parts]) if parts else np.array([], dtype=np.int64),
            np.concatenate([p.code for p in parts]) if parts else np.array([], dtype=np.uint8),
        )


@dataclass
class ReadStats:
    """Counts for the ingest report.

    records: records read; blocks: gVCF reference/no-call blocks among them;
    alleles: ALT alleles turned into variants; multiallelic: records split into several;
    realigned: alleles whose position or spelling changed on normalisation;
    skipped: symbolic, `*` or missing ALT alleles (not variants);
    duplicates: variants written by more than one record, merged;
    uncounted: records on contigs that are not counted (chrM, assembly.UNCOUNTED_CONTIGS).
    """

    records: int = 0
    blocks: int = 0
    alleles: int = 0
    multiallelic: int = 0
    realigned: int = 0
    skipped: int = 0
    duplicates: int = 0
    uncounted: int = 0

    def add(self, other: ReadStats) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class FileCalls:
    """Everything one file contributes, before it is stored.

    samples: genome ids of the columns of `codes` (the kept subset, in file order).
    sites: normalised variants in genome order, unique.
    codes: (variants, samples) uint8 genotype codes, on disk (spill.py) until read.
    carried: per variant, whether any sample carries its ALT (genotypes.carried).
    sums: the FileSpec's `summarise` applied to the codes (None without one).
    blocks: reference blocks for a gVCF, else None.
    qc_skipped: QC criteria not applied because the file lacks their FORMAT field.
    """

    path: Path
    header: HeaderInfo
    samples: tuple[str, ...]
    sites: Sites
    codes: SpilledCodes
    carried: np.ndarray
    sums: np.ndarray | None
    blocks: Blocks | None
    stats: ReadStats
    qc_skipped: tuple[str, ...]


@dataclass(frozen=True)
class FileSpec:
    """A file to read: its header, the genomes to keep (in file order), whether each is XY
    (for ploidy), and optionally a picklable function summarising (variants, samples) codes,
    run by the reader processes on each block while it is in cache."""

    path: Path
    header: HeaderInfo
    samples: Sequence[str]
    xy: np.ndarray
    summarise: Summarise | None = None
