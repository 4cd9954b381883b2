"""Read VCF/BCF/gVCF files into genotype codes per normalised variant and sample.

A VCF's text is parsed by pysam into a temporary BCF, piece by piece (transcode.py), and
its records are read straight into numpy (bcf.py); each record's REF is checked against
the reference and its ALT alleles normalised (normalise.py), and its calls go into a block
that is decoded with numpy (block.py). A bgzipped joint file is read by several processes
at once, each taking a balanced group of pieces cut at BGZF blocks (partition.py, bgzf.py).
The codes of each decoded block, and their sums, go straight to the reader's spill files
(spill.py), so a reader holds one block of them and sends back only the sites, in read order. These
are merged in genome order, duplicate variants combined; the sums are read back into
place, the codes when the batch is stored.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genomics_variants.assembly import UNCOUNTED_CONTIGS, par_pieces
from genomics_variants.reference import Reference
from genomics_variants.sites import Sites
from genomics_variants.vcf.bcf import BcfReader, Record
from genomics_variants.vcf.bgzf import Piece
from genomics_variants.vcf.block import Decoded, RecordBlock, flush
from genomics_variants.vcf.calls import Blocks, FileCalls, FileSpec, ReadStats, Summarise
from genomics_variants.vcf.header import read_header
from genomics_variants.vcf.normalise import is_sequence_allele, normalise, ref_matches
from genomics_variants.vcf.partition import partition
from genomics_variants.vcf.qc import QCConfig
from genomics_variants.vcf.spill import Spill, SpilledCodes, SpillWriter
from genomics_variants.vcf.transcode import bcf_pieces
from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress


@dataclass(frozen=True)
class _Job:
    path: Path
    spill: Path
    reference: Path
    pieces: tuple[Piece, ...] | None
    samples: tuple[str, ...]
    xy: np.ndarray
    summarise: Summarise | None
    qc: QCConfig
    fields: frozenset[str]
    gvcf: bool


@dataclass
class _Part:
    """What one reader process returns with its spill file: split variants in read order
    and what it keeps of their codes (Decoded)."""

    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alt: list[str] = field(default_factory=list)
    decoded: Decoded = field(default_factory=Decoded)
    stats: ReadStats = field(default_factory=ReadStats)


def _read_part(job: _Job) -> tuple[_Part, Spill]:
    """Read one part of a file (a group of pieces, or the whole file)."""
    part = _Part()
    block = RecordBlock(
        len(job.samples),
        gq=job.qc.enabled and "GQ" in job.fields,
        dp=job.qc.enabled and "DP" in job.fields,
        ad=job.qc.enabled and "AD" in job.fields,
    )
    with (
        Reference(job.reference) as reference,
        bcf_pieces(job.path, job.pieces, job.samples) as bcf_files,
        SpillWriter(job.spill, job.samples) as spill,
    ):
        for bcf in bcf_files:  # an input BCF keeps all its samples: the reader selects
            records = BcfReader(bcf, job.samples, _decoded_fields(job))
            _read_records(records, job, reference, block, part, spill)
            flush(block, job.xy, job.qc, job.summarise, part.decoded, spill)
            block.reset("")
    return part, spill.spill


def _decoded_fields(job: _Job) -> list[str]:
    """The FORMAT fields QC looks at (GT is always decoded)."""
    if not job.qc.enabled:
        return []
    return [f for f in ("GQ", "DP", "MIN_DP", "AD") if f in job.fields]


def _read_records(
    records: Iterable[Record],
    job: _Job,
    reference: Reference,
    block: RecordBlock,
    part: _Part,
    spill: SpillWriter,
) -> None:
    """Check, split and normalise records into `block` (flushed to `part` and `spill` when
    full or at a new contig)."""
    block_dp = "MIN_DP" if "MIN_DP" in job.fields else "DP"
    stats = part.stats
    for record in records:
        chrom, pos = record.CHROM, record.POS
        if chrom in UNCOUNTED_CONTIGS:
            stats.uncounted += 1
            continue
        if chrom != block.chrom or block.full:
            flush(block, job.xy, job.qc, job.summarise, part.decoded, spill)
            block.reset(chrom)
        stats.records += 1
        ref, alts = record.REF, record.ALT
        kept = [k for k, alt in enumerate(alts, start=1) if is_sequence_allele(alt)]
        is_block = job.gvcf and not kept
        if not kept and not is_block:
            stats.skipped += len(alts)
            continue
        if not ref_matches(reference, chrom, pos, ref):
            found = reference.fetch(chrom, pos - 1, pos - 1 + len(ref)) or "nothing"
            raise MedfollowError(
                f"{job.path.name}: REF {ref[:20]} at {chrom}:{pos} disagrees with the "
                f"reference {job.reference.name} ({found[:20]}); was it called "
                "against another reference?"
            )
        if is_block:
            stats.blocks += 1
            for start, end in par_pieces(chrom, pos, max(record.end, pos)):
                block.block_rows.append(block.add(record, block_dp, start))
                block.block_ends.append(end)
            continue
        row = block.add(record, "DP")
        stats.skipped += len(alts) - len(kept)
        stats.multiallelic += len(kept) > 1
        for k in kept:
            alt = alts[k - 1]
            npos, nref, nalt = normalise(reference, chrom, pos, ref, alt)
            stats.alleles += 1
            stats.realigned += (npos, nref, nalt) != (pos, ref.upper(), alt.upper())
            part.chrom.append(chrom)
            part.pos.append(npos)
            part.ref.append(nref)
            part.alt.append(nalt)
            block.split_rows.append(row)
            block.split_alleles.append(k)


def _file_calls(spec: FileSpec, results: Sequence[tuple[_Part, Spill]], qc: QCConfig) -> FileCalls:
    """Concatenate what a file's readers returned, sort by genome order and merge duplicate
    variants (max code)."""
    parts = [part for part, _spill in results]
    stats = ReadStats()
    for part in parts:
        stats.add(part.stats)
    sites = Sites.build(
        [c for p in parts for c in p.chrom],
        [x for p in parts for x in p.pos],
        [r for p in parts for r in p.ref],
        [a for p in parts for a in p.alt],
    )
    order = sites.genome_order()
    sites = sites.take(order)
    ids = sites.ids
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    stats.duplicates = int((~first).sum())
    group = np.cumsum(first) - 1
    codes = SpilledCodes(
        tuple(spill for _part, spill in results),
        tuple(spec.samples),
        first=order[first],
        merged_rows=order[~first],
        merged_into=group[~first],
    )
    return FileCalls(
        path=spec.path,
        header=spec.header,
        samples=tuple(spec.samples),
        sites=sites.take(np.flatnonzero(first)),
        codes=codes,
        carried=_carried(parts, codes),
        sums=_sums(codes, spec.summarise),
        blocks=Blocks.concat([b for p in parts for b in p.decoded.blocks])
        if spec.header.kind == "gvcf"
        else None,
        stats=stats,
        qc_skipped=tuple(
            f for f in ("GQ", "DP", "AD") if qc.enabled and f not in spec.header.formats
        ),
    )


def _carried(parts: Sequence[_Part], codes: SpilledCodes) -> np.ndarray:
    """Per variant, whether a sample carries its ALT in any of its records."""
    raw = [c for p in parts for c in p.decoded.carried]
    if not raw:
        return np.zeros(0, dtype=bool)
    per_row = np.concatenate(raw)
    carried = per_row[codes.first]
    np.logical_or.at(carried, codes.merged_into, per_row[codes.merged_rows])
    return carried


def _sums(codes: SpilledCodes, summarise: Summarise | None) -> np.ndarray | None:
    """Per variant, the sums the readers computed and spilled; a variant merged from several
    records is summed again from its merged codes (read back too: few variants)."""
    if summarise is None:
        return None
    sums = _placed(codes, summarise(np.zeros((0, len(codes.samples)), dtype=np.uint8)))
    repeated = np.unique(codes.merged_into)
    if len(repeated):
        sums[repeated] = summarise(codes.take(repeated).array())
    return sums


def _placed(codes: SpilledCodes, like: np.ndarray) -> np.ndarray:
    """The spilled sums of each variant's first record, read a block at a time into place."""
    at_variant = np.full(codes.raw_rows, -1, dtype=np.int64)
    at_variant[codes.first] = np.arange(len(codes))
    out = np.empty((len(codes), *like.shape[1:]), dtype=like.dtype)
    at = 0
    for spill in codes.spills:
        for block in spill.sums(like):
            target = at_variant[at : at + len(block)]
            placed = target >= 0
            out[target[placed]] = block[placed]
            at += len(block)
    return out


def plan_jobs(
    spec: FileSpec, reference: Path, *, qc: QCConfig, workers: int, spill: Path
) -> list[_Job]:
    """The reading jobs for one file: one per balanced piece, or one for the whole file; job
    k spills its codes to `<spill>-<k>`."""
    # A joint file is shared among the workers; a one-genome file is one job, in pieces.
    groups = partition(spec.path, workers if spec.header.kind == "joint" else 1)

    def job(number: int, pieces: tuple[Piece, ...] | None) -> _Job:
        return _Job(
            path=spec.path,
            spill=spill.with_name(f"{spill.name}-{number}"),
            reference=reference,
            pieces=pieces,
            samples=tuple(spec.samples),
            xy=spec.xy,
            summarise=spec.summarise,
            qc=qc,
            fields=spec.header.formats,
            gvcf=spec.header.kind == "gvcf",
        )

    if groups is None:
        return [job(0, None)]
    return [job(number, tuple(g)) for number, g in enumerate(groups)]


def read_calls(
    files: Sequence[FileSpec],
    reference: Path,
    *,
    qc: QCConfig,
    folder: Path,
    workers: int = 2,
    progress: Progress | None = None,
) -> list[FileCalls]:
    """Read files; pieces of all of them are spread over `workers` processes (fork). Their
    codes are written to files in `folder`, which must outlive the FileCalls' use.

    With one worker, or one piece, everything runs in this process; so it does inside a
    daemonic process (a task on a Celery prefork worker), which may not start processes.
    """
    report = progress or (lambda _label, _done, _total: None)
    if multiprocessing.current_process().daemon:
        workers = 1
    jobs = [
        plan_jobs(spec, reference, qc=qc, workers=workers, spill=folder / f"codes-{number}")
        for number, spec in enumerate(files)
    ]
    flat = [job for file_jobs in jobs for job in file_jobs]
    results: list[tuple[_Part, Spill]] = []
    if workers > 1 and len(flat) > 1:
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(min(workers, len(flat)), mp_context=context)
        try:
            for done, part in enumerate(pool.map(_read_part, flat), start=1):
                results.append(part)
                report("reading VCFs", done, len(flat))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # idle workers exit on their own
    else:
        for done, job in enumerate(flat, start=1):
            results.append(_read_part(job))
            report("reading VCFs", done, len(flat))
    out: list[FileCalls] = []
    at = 0
    for spec, file_jobs in zip(files, jobs, strict=True):
        out.append(_file_calls(spec, results[at : at + len(file_jobs)], qc))
        at += len(file_jobs)
    return out


def read_file(
    path: Path,
    reference: Path,
    *,
    folder: Path,
    xy: dict[str, bool] | None = None,
    qc: QCConfig | None = None,
    workers: int = 1,
) -> FileCalls:
    """Read one file with all its samples, XY where `xy` says so (a convenience for tools);
    its codes are kept in `folder`."""
    header = read_header(path)
    flags = np.array([bool((xy or {}).get(s, False)) for s in header.samples], dtype=bool)
    spec = FileSpec(path, header, header.samples, flags)
    return read_calls([spec], reference, qc=qc or QCConfig(), folder=folder, workers=workers)[0]
