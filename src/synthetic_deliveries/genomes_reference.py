"""The synthetic GRCh38 reference: contig table, window sequences and the bgzipped FASTA.

Downstream normalisation (`bcftools norm -f`) checks every REF allele against this FASTA and
left-aligns indels against it, so the FASTA carries the real GRCh38 contig lengths (coordinates
in the VCFs are then plausible GRCh38 coordinates) and, inside the simulated windows, sequence
with homopolymer runs and short tandem repeats: without repeats there is nothing to left-align.
Outside the windows the sequence is `N`, which bgzip compresses to almost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
from pysam.libcbgzf import BGZFile

# UCSC hg38 chrom.sizes for the primary assembly, in karyotype order.
GRCH38_CONTIGS: tuple[tuple[str, int], ...] = (
    ("chr1", 248_956_422),
    ("chr2", 242_193_529),
    ("chr3", 198_295_559),
    ("chr4", 190_214_555),
    ("chr5", 181_538_259),
    ("chr6", 170_805_979),
    ("chr7", 159_345_973),
    ("chr8", 145_138_636),
    ("chr9", 138_394_717),
    ("chr10", 133_797_422),
    ("chr11", 135_086_622),
    ("chr12", 133_275_309),
    ("chr13", 114_364_328),
    ("chr14", 107_043_718),
    ("chr15", 101_991_189),
    ("chr16", 90_338_345),
    ("chr17", 83_257_441),
    ("chr18", 80_373_285),
    ("chr19", 58_617_616),
    ("chr20", 64_444_167),
    ("chr21", 46_709_983),
    ("chr22", 50_818_468),
    ("chrX", 156_040_895),
    ("chrY", 57_227_415),
    ("chrM", 16_569),
)
CONTIG_LENGTH = dict(GRCH38_CONTIGS)
CONTIG_RANK = {name: rank for rank, (name, _) in enumerate(GRCH38_CONTIGS)}

# Pseudo-autosomal regions of chrX in GRCh38 (1-based, inclusive): diploid in XY as well.
CHRX_PARS: tuple[tuple[int, int], ...] = ((10_001, 2_781_479), (155_701_383, 156_030_895))

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
# Base composition of the human genome (about 41% GC).
BASE_FREQUENCIES = (0.295, 0.205, 0.205, 0.295)
BASE_INDEX = np.full(256, -1, dtype=np.int8)
BASE_INDEX[BASES] = np.arange(4, dtype=np.int8)

# Repeat unit lengths 1-4 and how often each occurs; copies per unit length.
UNIT_LENGTH_WEIGHTS = (0.5, 0.25, 0.15, 0.10)
HOMOPOLYMER_COPIES = (6, 15)
STR_COPIES = (3, 8)
BACKGROUND_REPEATS_PER_KB = 0.7

FASTA_LINE = 60
FASTA_CHUNK_LINES = 1 << 14


@dataclass(frozen=True)
class ContigSequence:
    """A contig of the FASTA: its name, true length and the windows that carry sequence."""

    name: str
    length: int
    windows: tuple[tuple[int, np.ndarray], ...]  # (0-based start, uint8 ASCII sequence)


def random_sequence(length: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform-composition random ACGT as uint8 ASCII codes."""
    return BASES[rng.choice(4, size=length, p=BASE_FREQUENCIES)]


def random_repeat_unit(rng: np.random.Generator) -> bytes:
    """A repeat unit of 1-4 bases; multi-base units are never a single repeated base."""
    size = int(rng.choice(4, p=UNIT_LENGTH_WEIGHTS)) + 1
    codes = rng.integers(0, 4, size=size)
    if size > 1 and np.all(codes == codes[0]):
        codes[-1] = (codes[-1] + 1) % 4
    return BASES[codes].tobytes()


def random_copies(unit: bytes, rng: np.random.Generator) -> int:
    """How many times a unit repeats: homopolymers run longer than multi-base repeats."""
    low, high = HOMOPOLYMER_COPIES if len(unit) == 1 else STR_COPIES
    return int(rng.integers(low, high + 1))


def plant_repeat(sequence: np.ndarray, start: int, unit: bytes, copies: int) -> int:
    """Write `unit` x `copies` into `sequence` from offset `start`; return the run length."""
    run = np.frombuffer(unit * copies, dtype=np.uint8)
    sequence[start : start + len(run)] = run
    return len(run)


def add_background_repeats(sequence: np.ndarray, rng: np.random.Generator) -> None:
    """Scatter homopolymers and short tandem repeats, as in real sequence, over a window."""
    count = int(len(sequence) / 1000 * BACKGROUND_REPEATS_PER_KB)
    for _ in range(count):
        unit = random_repeat_unit(rng)
        copies = random_copies(unit, rng)
        span = len(unit) * copies
        if span >= len(sequence):
            continue
        plant_repeat(sequence, int(rng.integers(0, len(sequence) - span)), unit, copies)


def _write_contig(out: BGZFile, contig: ContigSequence) -> None:
    """Stream one contig as 60-column FASTA without materialising the whole contig."""
    out.write(f">{contig.name}\n".encode())
    chunk = FASTA_LINE * FASTA_CHUNK_LINES
    for chunk_start in range(0, contig.length, chunk):
        chunk_end = min(chunk_start + chunk, contig.length)
        bases = np.full(chunk_end - chunk_start, ord("N"), dtype=np.uint8)
        for window_start, window_seq in contig.windows:
            lo = max(window_start, chunk_start)
            hi = min(window_start + len(window_seq), chunk_end)
            if lo < hi:
                bases[lo - chunk_start : hi - chunk_start] = window_seq[
                    lo - window_start : hi - window_start
                ]
        full = len(bases) // FASTA_LINE * FASTA_LINE
        lines = np.empty((full // FASTA_LINE, FASTA_LINE + 1), dtype=np.uint8)
        lines[:, :FASTA_LINE] = bases[:full].reshape(-1, FASTA_LINE)
        lines[:, FASTA_LINE] = ord("\n")
        out.write(lines.tobytes())
        if full < len(bases):
            out.write(bases[full:].tobytes() + b"\n")


def write_reference_fasta(path: Path, contigs: Sequence[ContigSequence]) -> None:
    """Write a bgzipped FASTA with its .fai and .gzi so `bcftools norm -f` can use it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with BGZFile(str(path), "wb", index=None) as out:
        for contig in contigs:
            _write_contig(out, contig)
    pysam.faidx(str(path))
