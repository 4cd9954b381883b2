"""VCF text for the genome delivery, built column-wise with numpy string operations.

A national cohort has thousands of samples, so nothing here loops over samples or calls in
Python: every column is an 'S' array built with `np.strings`, and a row of fixed-width cells
becomes text by dropping the NUL padding numpy adds (VCF text never contains NUL bytes).

A joint VCF mixes FORMAT layouts, as one merged from call sets of different pipelines does:
most records are GT:GQ:DP:AD, about one in five (chosen by position, so deterministic) is
GATK's GT:AD:DP:GQ:PL, whose PL a reader must skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
from pysam.libcbgzf import BGZFile

from synthetic_deliveries.genomes_calls import MAX_DEPTH, MISSING, Calls
from synthetic_deliveries.genomes_reference import GRCH38_CONTIGS
from synthetic_deliveries.genomes_sites import MAX_ALLELES, NO_ALLELE, Window

FORMAT = b"GT:GQ:DP:AD"
GATK_FORMAT = b"GT:AD:DP:GQ:PL"
GATK_EVERY = 5  # records at a POS divisible by this use GATK_FORMAT in a joint VCF
NON_REF = b"<NON_REF>"
MAX_QUAL = 99_999
ADJ_GQ, ADJ_DP, ADJ_DP_HAPLOID = 20, 10, 5  # gnomAD's adj genotype QC
BLOCK_MEAN_LENGTH = 800  # reference blocks break this often on average (GQ bands in GATK)

INT_TEXT = np.array([str(i).encode() for i in range(MAX_DEPTH + 1)])
_DIPLOID = [f"{a}/{b}" for a in range(MAX_ALLELES) for b in range(MAX_ALLELES)]
_HAPLOID = [str(a) for a in range(MAX_ALLELES)]
GT_TEXT = np.array([s.encode() for s in [*_DIPLOID, *_HAPLOID, "./.", "."]])
_HAPLOID_CODE = MAX_ALLELES * MAX_ALLELES
_MISSING_CODE = _HAPLOID_CODE + MAX_ALLELES


def cat(*parts: np.ndarray | bytes) -> np.ndarray:
    """Element-wise concatenation of string arrays and byte literals."""
    out = np.asarray(parts[0])
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out


def rows_to_bytes(cells: np.ndarray) -> bytes:
    """Concatenate fixed-width cells in row-major order, dropping numpy's NUL padding."""
    return np.ascontiguousarray(cells).tobytes().replace(b"\0", b"")


def vcf_header(samples: Sequence[str], *, gvcf: bool) -> bytes:
    """A deterministic VCFv4.2 header naming every GRCh38 primary contig."""
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        "##source=medfollow-synth",
        "##reference=GRCh38",
        *(
            f"##contig=<ID={name},length={length},assembly=GRCh38>"
            for name, length in GRCH38_CONTIGS
        ),
    ]
    if gvcf:
        lines += [
            '##ALT=<ID=NON_REF,Description="Any allele not listed at this position">',
            '##INFO=<ID=END,Number=1,Type=Integer,Description="Last position of a reference block">',
        ]
    depth = " (minimum over a reference block)" if gvcf else ""
    lines += [
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        f'##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality{depth}">',
        f'##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth{depth}">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Read depth per allele, REF first">',
        '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled genotype likelihoods">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    return ("\n".join(lines) + "\n").encode()


def genotype_text(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """GT strings from sorted allele indices: '0/1', '1' (haploid), './.' or '.'."""
    haploid = a2 == NO_ALLELE
    code = np.where(haploid, _HAPLOID_CODE + a1, a1.astype(np.int32) * MAX_ALLELES + a2)
    code = np.where(a1 == MISSING, _MISSING_CODE + haploid, code)
    return GT_TEXT[code]


def depths_text(ad: np.ndarray, n_values: np.ndarray) -> np.ndarray:
    """AD strings with the first `n_values` depths of each call (n_values per site)."""
    text = INT_TEXT[ad[..., 0]]
    for allele in range(1, MAX_ALLELES):
        extended = cat(text, b",", INT_TEXT[ad[..., allele]])
        text = np.where((allele < n_values)[:, None], extended, text)
    return text


def likelihoods_text(calls: Calls, n_alleles: np.ndarray) -> np.ndarray:
    """PL strings: 0 for the called genotype, GQ for one allele away, 2 GQ + 3 for two.

    Diploid calls list every unordered genotype j/k (k < n_alleles, j <= k) in VCF order,
    haploid calls one value per allele. Only the shape and the GQ relation are realistic;
    nothing downstream reads PL.
    """
    haploid = calls.a2 == NO_ALLELE
    second = np.where(haploid, calls.a1, calls.a2)
    gq = calls.gq.astype(np.int64)

    def phred(away: np.ndarray) -> np.ndarray:
        return INT_TEXT[np.minimum(gq * away + 3 * np.maximum(away - 1, 0), MAX_DEPTH)]

    def diploid_value(j: int, k: int) -> np.ndarray:
        shared = np.maximum(
            (calls.a1 == j).astype(np.int64) + (second == k),
            (calls.a1 == k).astype(np.int64) + (second == j),
        )
        return phred(2 - shared)

    diploid = diploid_value(0, 0)
    single = phred((calls.a1 != 0).astype(np.int64))
    for k in range(1, MAX_ALLELES):
        present = (k < n_alleles)[:, None]
        for j in range(k + 1):
            diploid = np.where(present, cat(diploid, b",", diploid_value(j, k)), diploid)
        haploid_k = phred((calls.a1 != k).astype(np.int64))
        single = np.where(present, cat(single, b",", haploid_k), single)
    return np.where(haploid, single, diploid)


def sample_cells(calls: Calls, n_alleles: np.ndarray, *, gatk: bool = False) -> np.ndarray:
    """'GT:GQ:DP:AD' (or GATK's 'GT:AD:DP:GQ:PL') per call; a missing call is just its GT
    (trailing fields dropped)."""
    gt = genotype_text(calls.a1, calls.a2)
    gq, dp, ad = INT_TEXT[calls.gq], INT_TEXT[calls.dp], depths_text(calls.ad, n_alleles)
    if gatk:
        pl = likelihoods_text(calls, n_alleles)
        full = cat(gt, b":", ad, b":", dp, b":", gq, b":", pl)
    else:
        full = cat(gt, b":", gq, b":", dp, b":", ad)
    return np.where(calls.a1 == MISSING, gt, full)


def alt_column(alleles: np.ndarray, n_alleles: np.ndarray) -> np.ndarray:
    """Comma-joined ALT alleles (slots 1 .. n_alleles-1)."""
    text = alleles[:, 1]
    for allele in range(2, MAX_ALLELES):
        text = np.where(allele < n_alleles, cat(text, b",", alleles[:, allele]), text)
    return text


def joint_lines(
    contig: str, pos: np.ndarray, alleles: np.ndarray, n_alleles: np.ndarray, calls: Calls
) -> bytes:
    """Records for a block of sites with one column per joint-called sample, in GATK's
    FORMAT layout where POS is divisible by GATK_EVERY and GT:GQ:DP:AD elsewhere."""
    carrier = (calls.a1 > 0) | (calls.a2 > 0)
    qual = np.minimum((calls.gq * carrier).sum(axis=1), MAX_QUAL).astype("S")
    gatk = pos % GATK_EVERY == 0
    prefix = cat(
        contig.encode() + b"\t",
        pos.astype("S"),
        b"\t.\t",
        alleles[:, 0],
        b"\t",
        alt_column(alleles, n_alleles),
        b"\t",
        qual,
        b"\tPASS\t.\t",
        np.where(gatk, GATK_FORMAT, FORMAT),
    )
    rows = np.arange(len(pos))
    lines = np.empty(len(pos), dtype=object)
    for layout in (False, True):
        chosen = rows[gatk == layout]
        cells = cat(b"\t", sample_cells(calls.rows(chosen), n_alleles[chosen], gatk=layout))
        for i, row in enumerate(chosen.tolist()):
            lines[row] = prefix[row].tobytes() + rows_to_bytes(cells[i]) + b"\n"
    return b"".join(lines.tolist())


@dataclass(frozen=True)
class SampleSlice:
    """One window's sites with the calls of the single-sample-delivery samples."""

    window: Window
    sequence: np.ndarray
    pos: np.ndarray
    alleles: np.ndarray
    calls: Calls
    planted: bool = False  # a window of planted named positions (planted.py)

    @property
    def ref_length(self) -> np.ndarray:
        return np.strings.str_len(self.alleles[:, 0])


def variant_lines(piece: SampleSlice, *, gvcf: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single-sample records where the sample carries an ALT allele, for all its samples.

    Each record lists only the sample's own ALT alleles, as a single-sample caller would.
    Returns (sample column, POS, line) sorted by sample, then position.
    """
    calls = piece.calls
    column, site = np.nonzero(((calls.a1 > 0) | (calls.a2 > 0)).T)
    a1, a2 = calls.a1[site, column], calls.a2[site, column]
    haploid = a2 == NO_ALLELE
    high = np.where(haploid, a1, a2)
    two_alts = (a1 > 0) & (a1 != high)
    ad = calls.ad[site, column]
    rows = np.arange(len(site))
    alt = np.where(
        two_alts,
        cat(piece.alleles[site, a1], b",", piece.alleles[site, high]),
        piece.alleles[site, high],
    )
    depths = np.where(
        two_alts,
        cat(INT_TEXT[ad[:, 0]], b",", INT_TEXT[ad[rows, a1]], b",", INT_TEXT[ad[rows, high]]),
        cat(INT_TEXT[ad[:, 0]], b",", INT_TEXT[ad[rows, high]]),
    )
    gt = np.where(haploid, b"1", np.where(two_alts, b"1/2", np.where(a1 == 0, b"0/1", b"1/1")))
    if gvcf:
        alt, depths = cat(alt, b"," + NON_REF), cat(depths, b",0")
    gq = INT_TEXT[calls.gq[site, column]]
    line = cat(
        piece.window.contig.encode() + b"\t",
        piece.pos[site].astype("S"),
        b"\t.\t",
        piece.alleles[site, 0],
        b"\t",
        alt,
        b"\t",
        gq,
        b"\t." if gvcf else b"\tPASS",
        b"\t.\t" + FORMAT + b"\t",
        gt,
        b":",
        gq,
        b":",
        INT_TEXT[calls.dp[site, column]],
        b":",
        depths,
        b"\n",
    )
    return column, piece.pos[site], line


def _block_line(
    contig: str,
    start: np.ndarray,
    end: np.ndarray,
    ref: np.ndarray,
    gt: np.ndarray,
    gq: np.ndarray,
    dp: np.ndarray,
) -> np.ndarray:
    return cat(
        contig.encode() + b"\t",
        start.astype("S"),
        b"\t.\t",
        ref,
        b"\t" + NON_REF + b"\t.\t.\tEND=",
        end.astype("S"),
        b"\t" + FORMAT + b"\t",
        gt,
        b":",
        INT_TEXT[gq],
        b":",
        INT_TEXT[dp],
        b":",
        INT_TEXT[dp],
        b",0\n",
    )


def _gaps(window: Window, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stretches of the window not covered by the sorted, disjoint records [start, end]."""
    gap_start = np.concatenate([[window.start], end + 1])
    gap_end = np.concatenate([start - 1, [window.end]])
    keep = gap_end >= gap_start
    return gap_start[keep], gap_end[keep]


def _split_gaps(
    gap_start: np.ndarray, gap_end: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cut gaps into reference blocks at random points, as GQ bands cut GATK blocks."""
    length = gap_end - gap_start + 1
    cuts_per_gap = rng.poisson(length / BLOCK_MEAN_LENGTH)
    owner = np.repeat(np.arange(len(length)), cuts_per_gap)
    cuts = gap_start[owner] + 1 + (rng.random(len(owner)) * (length[owner] - 1)).astype(np.int64)
    starts = np.unique(np.concatenate([gap_start, cuts]))
    gap_of = np.searchsorted(gap_start, starts, side="right") - 1
    next_start = np.append(starts[1:], np.iinfo(np.int64).max)
    return starts, np.minimum(next_start - 1, gap_end[gap_of])


def gvcf_lines(
    piece: SampleSlice, column: int, *, haploid: bool, coverage: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Reference blocks and missing-call blocks of one sample in one window: (POS, lines).

    Block GQ and DP are minima over the block, so a hom-ref site inside a block can only
    lower them; a site with no call becomes a './.' block instead of vanishing, so a
    consumer never mistakes it for hom-ref. In a window of planted named positions the
    blocks pass genotype QC (the answer key says a called genotype there is visible); the
    draws are the same, so other windows do not change.
    """
    calls = piece.calls.select(np.array([column]))
    a1, a2 = calls.a1[:, 0], calls.a2[:, 0]
    hom_ref = (a1 == 0) & ((a2 == 0) | (a2 == NO_ALLELE))
    missing = a1 == MISSING
    occupied = ~hom_ref
    start = piece.pos[occupied]
    gap_start, gap_end = _gaps(piece.window, start, start + piece.ref_length[occupied] - 1)
    block_start, block_end = _split_gaps(gap_start, gap_end, rng)

    depth = rng.poisson(0.6 * coverage * (0.5 if haploid else 1.0), size=len(block_start))
    quality = np.rint(3.0 * depth * rng.lognormal(0.0, 0.25, size=len(depth)))
    quality = np.clip(quality, 0, 99).astype(np.int64)
    block_of_site = np.searchsorted(block_start, piece.pos[hom_ref], side="right") - 1
    np.minimum.at(depth, block_of_site, calls.dp[hom_ref, 0])
    np.minimum.at(quality, block_of_site, calls.gq[hom_ref, 0])
    depth = np.minimum(depth, MAX_DEPTH)
    if piece.planted:
        depth, quality = np.maximum(depth, 2 * ADJ_DP), np.maximum(quality, 2 * ADJ_GQ)

    offset = piece.window.start
    ref_gt, missing_gt = (b"0", b".") if haploid else (b"0/0", b"./.")
    blocks = _block_line(
        piece.window.contig,
        block_start,
        block_end,
        piece.sequence[block_start - offset].view("S1"),
        np.full(len(block_start), ref_gt),
        quality,
        depth,
    )
    gap_pos = piece.pos[missing]
    no_call = _block_line(
        piece.window.contig,
        gap_pos,
        gap_pos + piece.ref_length[missing] - 1,
        piece.sequence[gap_pos - offset].view("S1"),
        np.full(len(gap_pos), missing_gt),
        np.zeros(len(gap_pos), dtype=np.int64),
        calls.dp[missing, 0],
    )
    return np.concatenate([block_start, gap_pos]), np.concatenate([blocks, no_call])


def callable_lines(piece: SampleSlice, column: int, *, haploid: bool) -> np.ndarray:
    """Callable regions of one sample in one window as BED lines (0-based, half-open).

    As a depth-based tool (mosdepth, CallableLoci) would draw them, with the thresholds of
    gnomAD's adj QC: the window minus every site where the sample's call is missing or too
    weak to pass (GQ < 20, DP < 10, or < 5 for a haploid call). Inside a region a position
    without a record is a passing hom-ref call; a site where the sample carries an ALT stays
    inside, its own record deciding.
    """
    calls = piece.calls.select(np.array([column]))
    gq, dp = calls.gq[:, 0], calls.dp[:, 0]
    weak = (
        (calls.a1[:, 0] == MISSING) | (gq < ADJ_GQ) | (dp < (ADJ_DP_HAPLOID if haploid else ADJ_DP))
    )
    start = piece.pos[weak]
    gap_start, gap_end = _gaps(piece.window, start, start + piece.ref_length[weak] - 1)
    return cat(
        piece.window.contig.encode() + b"\t",
        (gap_start - 1).astype("S"),
        b"\t",
        gap_end.astype("S"),
        b"\n",
    )


def write_bgzf_vcf(path: Path, header: bytes, body: Sequence[bytes]) -> None:
    """Write a bgzipped VCF and its tabix index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with BGZFile(str(path), "wb", index=None) as out:
        out.write(header)
        for chunk in body:
            out.write(chunk)
    index_vcf(path)


def index_vcf(path: Path) -> None:
    """Tabix-index a bgzipped VCF (writes `<path>.tbi`)."""
    pysam.tabix_index(str(path), preset="vcf", force=True)
