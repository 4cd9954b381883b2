"""Read VCF/BCF/gVCF files into genotype codes per normalised variant and sample.

A VCF's text is parsed by pysam into a temporary BCF, region by region (transcode.py), and
its records are read straight into numpy (bcf.py); each record's REF is checked against
the reference and its ALT alleles normalised (normalise.py), and its calls go into a block
that is decoded with numpy (block.py). A tabix-indexed joint file is read by several processes at once, each
taking a balanced group of regions (partition.py); pieces are merged in genome order,
duplicate variants combined.
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
from genomics_variants.vcf.block import Decoded, RecordBlock, flush
from genomics_variants.vcf.calls import Blocks, FileCalls, FileSpec, ReadStats, Summarise
from genomics_variants.vcf.header import read_header
from genomics_variants.vcf.normalise import is_sequence_allele, normalise, ref_matches
from genomics_variants.vcf.partition import Region, partition
from genomics_variants.vcf.qc import QCConfig
from genomics_variants.vcf.transcode import bcf_pieces
from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress


@dataclass(frozen=True)
class _Job:
    path: Path
    reference: Path
    regions: tuple[Region, ...] | None
    samples: tuple[str, ...]
    xy: np.ndarray
    summarise: Summarise | None
    qc: QCConfig
    fields: frozenset[str]
    gvcf: bool


@dataclass
class _Part:
    """What one reader process returns: split variants in read order and their codes."""

    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alt: list[str] = field(default_factory=list)
    decoded: Decoded = field(default_factory=Decoded)
    stats: ReadStats = field(default_factory=ReadStats)


def _read_part(job: _Job) -> _Part:
    """Read one piece of a file (a group of regions, or the whole file)."""
    part = _Part()
    block = RecordBlock(
        len(job.samples),
        gq=job.qc.enabled and "GQ" in job.fields,
        dp=job.qc.enabled and "DP" in job.fields,
        ad=job.qc.enabled and "AD" in job.fields,
    )
    with (
        Reference(job.reference) as reference,
        bcf_pieces(job.path, job.regions, job.samples) as pieces,
    ):
        for piece in pieces:  # an input BCF keeps all its samples: the reader selects
            records = BcfReader(piece, job.samples, _decoded_fields(job))
            _read_records(records, job, reference, block, part)
            flush(block, job.xy, job.qc, job.summarise, part.decoded)
            block.reset("")
    return part


def _decoded_fields(job: _Job) -> list[str]:
    """The FORMAT fields QC looks at (GT is always decoded)."""
    if not job.qc.enabled:
        return []
    return [f for f in ("GQ", "DP", "MIN_DP", "AD") if f in job.fields]


def _read_records(
    records: Iterable[Record], job: _Job, reference: Reference, block: RecordBlock, part: _Part
) -> None:
    """Check, split and normalise records into `block` (flushed when full or at a new contig)."""
    block_dp = "MIN_DP" if "MIN_DP" in job.fields else "DP"
    stats = part.stats
    for record in records:
        chrom, pos = record.CHROM, record.POS
        if chrom in UNCOUNTED_CONTIGS:
            stats.uncounted += 1
            continue
        if chrom != block.chrom or block.full:
            flush(block, job.xy, job.qc, job.summarise, part.decoded)
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


def _merge(
    parts: Sequence[_Part], n_samples: int, summarise: Summarise | None
) -> tuple[Sites, np.ndarray, np.ndarray | None, Blocks, ReadStats]:
    """Concatenate parts, sort by genome order and merge duplicate variants (max code)."""
    stats = ReadStats()
    for part in parts:
        stats.add(part.stats)
    sites = Sites.build(
        [c for p in parts for c in p.chrom],
        [x for p in parts for x in p.pos],
        [r for p in parts for r in p.ref],
        [a for p in parts for a in p.alt],
    )
    chunks = [c for p in parts for c in p.decoded.codes]
    codes = np.concatenate(chunks) if chunks else np.zeros((0, n_samples), dtype=np.uint8)
    sums = None
    if summarise is not None:
        sums = (
            np.concatenate([s for p in parts for s in p.decoded.sums])
            if chunks
            else summarise(codes)
        )
    order = sites.genome_order()
    sites, codes = sites.take(order), codes[order]
    sums = None if sums is None else sums[order]
    ids = sites.ids
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    if not first.all():
        starts = np.flatnonzero(first)
        stats.duplicates = int(len(ids) - len(starts))
        codes = np.maximum.reduceat(codes, starts, axis=0)
        sites = sites.take(starts)
        if sums is not None and summarise is not None:
            repeated = np.flatnonzero(np.diff(np.append(starts, len(ids))) > 1)
            sums = sums[starts]
            sums[repeated] = summarise(codes[repeated])
    blocks = Blocks.concat([b for p in parts for b in p.decoded.blocks])
    return sites, codes, sums, blocks, stats


def plan_jobs(spec: FileSpec, reference: Path, *, qc: QCConfig, workers: int) -> list[_Job]:
    """The reading jobs for one file: one per balanced piece, or one for the whole file."""
    # A joint file is shared among the workers; a one-genome file is one job, in regions.
    groups = partition(spec.path, workers if spec.header.kind == "joint" else 1)

    def job(regions: tuple[Region, ...] | None) -> _Job:
        return _Job(
            path=spec.path,
            reference=reference,
            regions=regions,
            samples=tuple(spec.samples),
            xy=spec.xy,
            summarise=spec.summarise,
            qc=qc,
            fields=spec.header.formats,
            gvcf=spec.header.kind == "gvcf",
        )

    if groups is None:
        return [job(None)]
    return [job(tuple(g)) for g in groups]


def read_calls(
    files: Sequence[FileSpec],
    reference: Path,
    *,
    qc: QCConfig,
    workers: int = 2,
    progress: Progress | None = None,
) -> list[FileCalls]:
    """Read files; pieces of all of them are spread over `workers` processes (fork).

    With one worker, or one piece, everything runs in this process; so it does inside a
    daemonic process (a task on a Celery prefork worker), which may not start processes.
    """
    report = progress or (lambda _label, _done, _total: None)
    if multiprocessing.current_process().daemon:
        workers = 1
    jobs = [plan_jobs(spec, reference, qc=qc, workers=workers) for spec in files]
    flat = [job for file_jobs in jobs for job in file_jobs]
    results: list[_Part] = []
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
        parts = results[at : at + len(file_jobs)]
        at += len(file_jobs)
        sites, codes, sums, blocks, stats = _merge(parts, len(spec.samples), spec.summarise)
        skipped = tuple(
            f for f in ("GQ", "DP", "AD") if qc.enabled and f not in spec.header.formats
        )
        out.append(
            FileCalls(
                path=spec.path,
                header=spec.header,
                samples=tuple(spec.samples),
                sites=sites,
                codes=codes,
                sums=sums,
                blocks=blocks if spec.header.kind == "gvcf" else None,
                stats=stats,
                qc_skipped=skipped,
            )
        )
    return out


def read_file(
    path: Path,
    reference: Path,
    *,
    xy: dict[str, bool] | None = None,
    qc: QCConfig | None = None,
    workers: int = 1,
) -> FileCalls:
    """Read one file with all its samples, XY where `xy` says so (a convenience for tools)."""
    header = read_header(path)
    flags = np.array([bool((xy or {}).get(s, False)) for s in header.samples], dtype=bool)
    spec = FileSpec(path, header, header.samples, flags)
    return read_calls([spec], reference, qc=qc or QCConfig(), workers=workers)[0]
