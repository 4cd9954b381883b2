"""A block of VCF records turned into genotype codes with numpy, records x samples at once.

The reader copies each record's genotype, GQ, DP and AD arrays (bcf.py) into preallocated
buffers; when the block is full (or the contig changes) every step - missing calls, ploidy,
QC, splitting into ALT alleles - runs as element-wise numpy over the whole block. Python
touches each record once, never a sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genomics_variants.vcf.bcf import Record, decode_alleles, decode_ints, gt_slots, int_values
from genomics_variants.vcf.calls import Blocks, Summarise
from genomics_variants.vcf.genotypes import (
    MISSING,
    absent_samples,
    allele_codes,
    base_codes,
    carried,
    correct_ploidy,
    normalise_missing,
)
from genomics_variants.vcf.qc import QCConfig, adj_mask
from genomics_variants.vcf.spill import SpillWriter

BLOCK_RECORDS = 256
MAX_ROWS_PER_RECORD = 5  # a gVCF block cut at both PARs of chrX (assembly.par_pieces)


@dataclass
class Decoded:
    """Accumulated output of flushed blocks but their codes and sums (which go to spill
    files): per split variant, in order, whether a sample carries its ALT; gVCF blocks."""

    carried: list[np.ndarray] = field(default_factory=list)
    blocks: list[Blocks] = field(default_factory=list)


class RecordBlock:
    """Records of one contig collected for vectorised processing.

    The FORMAT buffers are allocated once per reader and reused from block to block; AD
    keeps as many allele columns as the widest record seen, and a narrower record's row
    holds -1 (no reads) beyond its own alleles: without DP a call's depth is the sum of its
    row, which must not count what an earlier record left there.
    """

    def __init__(self, n: int, *, gq: bool, dp: bool, ad: bool) -> None:
        self.n = n
        self.first = np.empty((BLOCK_RECORDS, n), dtype=np.int16)
        self.second = np.empty((BLOCK_RECORDS, n), dtype=np.int16)
        self.gq = np.empty((BLOCK_RECORDS, n), dtype=np.int32) if gq else None
        self.dp = np.empty((BLOCK_RECORDS, n), dtype=np.int32) if dp else None
        self.ad = np.empty((BLOCK_RECORDS, n, 4), dtype=np.int32) if ad else None
        # BCF type of each row's raw values (bcf.py), decoded a block at a time
        self.kinds = {f: np.zeros(BLOCK_RECORDS, dtype=np.uint8) for f in ("GT", "GQ", "DP", "AD")}
        self.reset("")

    def reset(self, chrom: str) -> None:
        self.chrom = chrom
        self.pos: list[int] = []
        self.split_rows: list[int] = []
        self.split_alleles: list[int] = []
        self.block_rows: list[int] = []
        self.block_ends: list[int] = []

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def full(self) -> bool:
        """No room left for the rows of one more record."""
        return len(self.pos) > BLOCK_RECORDS - MAX_ROWS_PER_RECORD

    def add(self, record: Record, dp_field: str, pos: int | None = None) -> int:
        """Copy one record's genotypes and QC fields in, as stored (at `pos`, default its
        POS: a piece of a gVCF block starts elsewhere); returns its row."""
        row = len(self.pos)
        self.pos.append(record.POS if pos is None else pos)
        gt = record.raw.get("GT")
        if gt is None:  # no GT in this record: no called allele
            self.first[row] = self.second[row] = MISSING
            self.kinds["GT"][row] = 0
        else:
            self.first[row], self.second[row], self.kinds["GT"][row] = gt_slots(*gt)
        if self.gq is not None:
            self._copy_field(self.gq, row, record, "GQ", "GQ")
        if self.dp is not None:
            self._copy_field(self.dp, row, record, dp_field, "DP")
        if self.ad is not None:
            stored = record.raw.get("AD")
            if stored is None:
                self.ad[row] = -1
                self.kinds["AD"][row] = 0
            else:
                values, self.kinds["AD"][row] = int_values(*stored)
                width = values.shape[1]
                if width > self.ad.shape[2]:
                    grown = np.full((*self.ad.shape[:2], width), -1, dtype=np.int32)
                    grown[..., : self.ad.shape[2]] = self.ad
                    self.ad = grown
                self.ad[row, :, :width] = values
                self.ad[row, :, width:] = -1  # not an earlier, wider record's depths
        return row

    def _copy_field(
        self, buffer: np.ndarray, row: int, record: Record, name: str, slot: str
    ) -> None:
        """One-value-per-sample integer FORMAT field into `buffer[row]`; -1 if absent."""
        stored = record.raw.get(name)
        if stored is None:
            buffer[row] = -1
            self.kinds[slot][row] = 0
        else:
            values, self.kinds[slot][row] = int_values(*stored)
            buffer[row] = values[:, 0]

    def decode(self) -> None:
        """Turn the stored values of the block's rows into cyvcf2's conventions."""
        rows = len(self.pos)
        decode_alleles(self.first[:rows], self.kinds["GT"][:rows])
        decode_alleles(self.second[:rows], self.kinds["GT"][:rows])
        for name, values in (("GQ", self.gq), ("DP", self.dp), ("AD", self.ad)):
            if values is not None:
                decode_ints(values[:rows], self.kinds[name][:rows])


def flush(
    block: RecordBlock,
    xy: np.ndarray,
    qc: QCConfig,
    summarise: Summarise | None,
    out: Decoded,
    spill: SpillWriter,
) -> None:
    """Turn a block of records into codes, written to `spill`, and what `out` keeps of them
    (and gVCF blocks)."""
    rows = len(block)
    if not rows:
        return
    block.decode()
    pos = np.array(block.pos, dtype=np.int64)
    first, second = block.first[:rows], block.second[:rows]
    half = normalise_missing(first, second)
    absent = absent_samples(block.chrom, xy)
    first[:, absent] = MISSING
    second[:, absent] = MISSING
    correct_ploidy(first, second, block.chrom, pos, xy)
    adj = adj_mask(
        qc,
        first=first,
        second=second,
        gq=None if block.gq is None else block.gq[:rows],
        dp=None if block.dp is None else block.dp[:rows],
        ad=None if block.ad is None else block.ad[:rows],
        half=half,
    )
    base = base_codes(first, second, adj)
    base[:, absent] = 0
    if block.split_rows:
        split = np.array(block.split_rows, dtype=np.intp)
        codes = allele_codes(first, second, base, split, np.array(block.split_alleles))
        spill.write(codes, None if summarise is None else summarise(codes))
        out.carried.append(carried(codes))
    if block.block_rows:
        held = np.array(block.block_rows, dtype=np.intp)
        out.blocks.append(
            Blocks(
                np.full(len(held), block.chrom),
                pos[held],
                np.array(block.block_ends, dtype=np.int64),
                base[held, 0],
            )
        )
