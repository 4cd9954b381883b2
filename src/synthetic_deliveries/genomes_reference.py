"""The synthetic GRCh38 reference: contig table, window sequences and the bgzipped FASTA.

Downstream normalisation (`bcftools norm -f`) checks every REF allele against this FASTA and
left-aligns indels against it, so the FASTA carries the real GRCh38 contig lengths (coordinates
in the VCFs are then plausible GRCh38 coordinates) and, inside the simulated windows, sequence
with homopolymer runs and short tandem repeats: without repeats there is nothing to left-align.
Outside the windows the sequence is `N`, which bgzip compresses to almost nothing.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


BLOCK_LINES = 1000  # FASTA lines per BGZF block (61,000 bytes, under BGZF's 64 KiB)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _bgzf_block(data: bytes) -> bytes:
    """One BGZF block: a gzip member with the BC extra field giving its compressed size."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
    size = len(header) + 2 + len(deflated) + 8
    return (
        header
        + struct.pack("<H", size - 1)
        + deflated
        + struct.pack("<II", zlib.crc32(data), len(data))
    )


def _contig_lines(contig: ContigSequence, first: int, last: int) -> bytes:
    """FASTA text of lines [first, last) of a contig (60 bases and a newline each)."""
    lo, hi = first * FASTA_LINE, min(last * FASTA_LINE, contig.length)
    bases = np.full(hi - lo, ord("N"), dtype=np.uint8)
    for window_start, window_seq in contig.windows:
        a, b = max(window_start, lo), min(window_start + len(window_seq), hi)
        if a < b:
            bases[a - lo : b - lo] = window_seq[a - window_start : b - window_start]
    full = len(bases) // FASTA_LINE * FASTA_LINE
    lines = np.empty((full // FASTA_LINE, FASTA_LINE + 1), dtype=np.uint8)
    lines[:, :FASTA_LINE] = bases[:full].reshape(-1, FASTA_LINE)
    lines[:, FASTA_LINE] = ord("\n")
    tail = bases[full:].tobytes() + b"\n" if full < len(bases) else b""
    return lines.tobytes() + tail


def write_reference_fasta(path: Path, contigs: Sequence[ContigSequence]) -> None:
    """Write a bgzipped FASTA with its .fai and .gzi so `bcftools norm -f` can use it.

    Written block by block rather than through a BGZF stream: outside the windows the
    contigs are N, and every block of 1,000 N lines compresses to the same bytes, so that
    block is compressed once and repeated. The indexes are written alongside (the offsets
    are known while writing) instead of by a second pass that decompresses ~1 Gb of N
    when named positions put windows on several long chromosomes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line_bytes = FASTA_LINE + 1
    all_n = _bgzf_block((b"N" * FASTA_LINE + b"\n") * BLOCK_LINES)
    fai: list[str] = []
    gzi: list[tuple[int, int]] = []
    compressed = uncompressed = 0
    with path.open("wb") as out:

        def emit(block: bytes, size: int) -> None:
            nonlocal compressed, uncompressed
            if compressed:
                gzi.append((compressed, uncompressed))
            out.write(block)
            compressed += len(block)
            uncompressed += size

        for contig in contigs:
            header = f">{contig.name}\n".encode()
            emit(_bgzf_block(header), len(header))
            fai.append(
                f"{contig.name}\t{contig.length}\t{uncompressed}\t{FASTA_LINE}\t{line_bytes}"
            )
            n_lines = -(-contig.length // FASTA_LINE)
            for first in range(0, n_lines, BLOCK_LINES):
                last = min(first + BLOCK_LINES, n_lines)
                lo, hi = first * FASTA_LINE, last * FASTA_LINE
                touched = any(start < hi and lo < start + len(seq) for start, seq in contig.windows)
                if last - first == BLOCK_LINES and hi <= contig.length and not touched:
                    emit(all_n, BLOCK_LINES * line_bytes)
                else:
                    text = _contig_lines(contig, first, last)
                    emit(_bgzf_block(text), len(text))
        out.write(BGZF_EOF)
    Path(f"{path}.fai").write_text("".join(f"{row}\n" for row in fai), encoding="utf-8")
    with open(f"{path}.gzi", "wb") as index:
        index.write(struct.pack("<Q", len(gzi)))
        for pair in gzi:
            index.write(struct.pack("<QQ", *pair))
