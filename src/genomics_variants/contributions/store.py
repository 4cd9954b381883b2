"""The on-disk store of per-sample contributions and the working aggregate.

Layout under the store directory:

    contributions/batch=<batch_id>/sites.parquet      variants the batch's file lists
    contributions/batch=<batch_id>/calls.<gen>.parquet  one row per sample: genome_id and
                                                      its codes at those sites (binary)
    contributions/batch=<batch_id>/blocks.parquet     gVCF reference blocks, or callable
                                                      regions of a plain VCF (vcf+bed)
    state/<gen>/samples.parquet                       stored genomes (no CPR: person_key)
    state/<gen>/batches.parquet                       stored batches and their calls file
    state/<gen>/aggregate.parquet                     the working aggregate's manifest: its
                                                      chunk files (contributions/chunks.py)
    aggregate/<rank>-<window>.<gen>.parquet           counts per variant and cell of one
                                                      genomic chunk, written by the generation
                                                      that last changed it
    state/CURRENT                                     the generation in force
    store.json                                        format version, chunk size (chunk_bits),
                                                      reference FASTA
    reference/<name>.fa[.gz] (+ .fai, .gzi)           that FASTA, registered at ingest
    releases/...                                      see frequencies/release.py
    scratch/                                          a writer's temporary files (the codes
                                                      of VCFs being ingested, vcf/spill.py)

A batch is partitioned into its own folder (hive style, `batch=<id>`) and its calls file is
sorted by genome_id in small row groups, so one sample's contribution is read through the
row-group statistics without scanning the batch, let alone the store. A change writes a
new generation beside the current one and switches `state/CURRENT` with one atomic rename:
a crash leaves the previous generation intact, and the leftovers are swept on the next run.
Writers take an exclusive lock on the store. A store of format 3 (one aggregate.arrow per
generation) is cut into chunks by the first writer that opens it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.chunks import (
    AGGREGATE_DIR,
    DEFAULT_CHUNK_BITS,
    MANIFEST_SCHEMA,
    ChunkedCounts,
    Chunks,
    written,
)
from genomics_variants.contributions.measures import N_MEASURES
from genomics_variants.sites import Sites
from genomics_variants.vcf.calls import Blocks
from genomics_variants.vcf.spill import SpilledCodes
from medfollow_core.errors import MedfollowError

MANIFEST_FILE = "aggregate.parquet"
FORMAT_VERSION = 4  # 2: aggregate in Arrow IPC; 3: measure seen_unknown; 4: chunked aggregate
UPGRADABLE = 3  # a format this medfollow converts in place
MIN_CHUNK_BITS, MAX_CHUNK_BITS = 4, 31  # 16 bases (tests) to a whole contig
OLD_AGGREGATE_FILE = "aggregate.arrow"  # format 3
REFERENCE_DIR = "reference"
SCRATCH_DIR = "scratch"
CALLS_ROW_GROUP = 128

SAMPLES_SCHEMA = pa.schema(
    [
        ("genome_id", pa.string()),
        ("person_key", pa.string()),
        ("batch_id", pa.string()),
        ("sex", pa.string()),
        ("region", pa.string()),
        ("cell", pa.int32()),
        ("added_at", pa.string()),
    ]
)
BLOCKS_SCHEMA = pa.schema(
    [
        ("chrom", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("code", pa.uint8()),
    ]
)
"""A batch's blocks file: gVCF reference blocks or callable regions (1-based inclusive)."""
BATCHES_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("kind", pa.string()),
        ("file_name", pa.string()),
        ("calls_file", pa.string()),
        ("n_sites", pa.int64()),
        ("qc", pa.string()),
        ("added_at", pa.string()),
    ]
)


@dataclass(frozen=True)
class State:
    """A generation of the store: who is stored, in which batches, and the aggregate's
    counts: as stored (chunk files, `Chunks`), computed in this process (`Aggregate`), or
    worked out chunk by chunk when read (`ChunkedCounts`: stored counts less some genomes)."""

    generation: int
    samples: pa.Table
    batches: pa.Table
    counts: Aggregate | ChunkedCounts

    @property
    def sample_count(self) -> int:
        return self.samples.num_rows

    @property
    def chunks(self) -> Chunks:
        """The aggregate as stored (of a state read from the store, not one computed here)."""
        if not isinstance(self.counts, Chunks):
            raise ValueError("this state's aggregate is not stored yet")
        return self.counts

    @cached_property
    def aggregate(self) -> Aggregate:
        """The whole aggregate in memory (read from its chunks if stored): the work of one
        machine. Work at the country's scale goes chunk by chunk (`counts`)."""
        return self.counts if isinstance(self.counts, Aggregate) else self.counts.load()


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    """Delete a leftover file or folder."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def rows_to_binary(per_sample: np.ndarray) -> pa.Array:
    """(samples, sites) codes -> one binary value per sample (its codes at every site)."""
    per_sample = np.ascontiguousarray(per_sample)
    n_samples, n_sites = per_sample.shape
    if n_sites == 0:
        return pa.array([b""] * n_samples, pa.binary())
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(n_sites), n_samples, [None, pa.py_buffer(per_sample)]
    )


def binary_to_codes(column: pa.ChunkedArray | pa.Array, n_sites: int) -> np.ndarray:
    """(sites, samples) codes from rows_to_binary's values."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if n_sites == 0 or len(array) == 0:
        return np.zeros((n_sites, len(array)), dtype=np.uint8)
    array = array.cast(pa.binary(n_sites))
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    start = array.offset * n_sites
    return raw[start : start + len(array) * n_sites].reshape(len(array), n_sites).T


class Store:
    """A contribution store rooted at a directory (created on first write)."""

    def __init__(self, root: Path, *, chunk_bits: int = DEFAULT_CHUNK_BITS) -> None:
        """`chunk_bits` sets the chunk size of a store created here (2^bits bases); a store
        keeps the size it was created with."""
        if not MIN_CHUNK_BITS <= chunk_bits <= MAX_CHUNK_BITS:
            raise ValueError(f"chunk_bits must be {MIN_CHUNK_BITS}-{MAX_CHUNK_BITS}")
        self.root = Path(root)
        self._new_chunk_bits = chunk_bits

    # ---- paths -------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def access_dir(self) -> Path:
        return self.root / "access"

    @property
    def aggregate_dir(self) -> Path:
        return self.root / AGGREGATE_DIR

    def batch_dir(self, batch_id: str) -> Path:
        return self.root / "contributions" / f"batch={batch_id}"

    def _meta(self) -> dict[str, Any]:
        meta = self.root / "store.json"
        return json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}

    @property
    def chunk_bits(self) -> int:
        """The chunk size of the aggregate (contributions/chunks.py), as the store records."""
        recorded = self._meta().get("chunk_bits")
        return int(recorded) if isinstance(recorded, int) else self._new_chunk_bits

    # ---- locking and lifecycle ----------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[None]:
        """Exclusive write access (waiting for other writers); sweeps leftovers of interrupted
        runs first."""
        self.root.mkdir(parents=True, exist_ok=True)
        version = self._meta().get("format_version")
        if version not in (None, FORMAT_VERSION, UPGRADABLE):
            raise MedfollowError(
                f"store {self.root} has format {version}, this medfollow reads format "
                f"{FORMAT_VERSION}: move it aside and ingest its genomes again"
            )
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # waits for another writer to finish
            meta = self._meta()
            if not meta:
                meta = {"format_version": FORMAT_VERSION, "chunk_bits": self._new_chunk_bits}
                _atomic_write_text(self.root / "store.json", json.dumps(meta) + "\n")
            elif meta.get("format_version") == UPGRADABLE:
                self._upgrade()
            self._sweep()
            _remove(self.root / SCRATCH_DIR)  # an interrupted writer's
            yield

    def _upgrade(self) -> None:
        """Cut a format-3 store's aggregate (one Arrow file per generation) into chunks: the
        same generation, its manifest written beside the old file, then the format bumped
        (a crash before that leaves a format-3 store, and the next writer starts again)."""
        meta = self._meta()
        meta.setdefault("chunk_bits", self._new_chunk_bits)
        generation = self.current_generation()
        if generation is not None:
            folder = self.state_dir / f"{generation:06d}"
            old = feather.read_table(folder / OLD_AGGREGATE_FILE)
            flat = old.column("counts").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            aggregate = Aggregate(
                Sites.from_arrow(old),
                old.column("listed_by").to_numpy().astype(np.int32),
                flat.astype(np.int32).reshape(old.num_rows, N_CELLS, N_MEASURES),
            )
            empty = Chunks.empty(self.aggregate_dir, int(meta["chunk_bits"]))
            chunks = written(aggregate, empty, generation)
            _write_parquet_atomically(chunks.manifest, folder / MANIFEST_FILE)
        meta["format_version"] = FORMAT_VERSION
        _atomic_write_text(self.root / "store.json", json.dumps(meta) + "\n")

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """An empty folder for a writer's temporary files, removed afterwards (call while
        writing). It lies in the store, on the disk that will hold the batches written from
        it, not in a temporary folder that may be small or in memory."""
        folder = self.root / SCRATCH_DIR
        folder.mkdir()
        try:
            yield folder
        finally:
            _remove(folder)

    @property
    def reference(self) -> Path | None:
        """The reference FASTA the stored genomes were read against (the latest ingest's),
        registered inside the store: look-ups use it to normalise a typed indel. (Stores
        written before references were registered name an outside path; that is honoured
        while it exists.)"""
        recorded = self._meta().get("reference")
        path = self.root / recorded if recorded else None
        return path if path is not None and path.exists() else None

    def remember_reference(self, fasta: Path) -> None:
        """Register the reference FASTA of an ingest (call while writing): copy it and its
        indexes into ``reference/`` unless a copy of the same name and size is there, and
        record the store-relative path in store.json. The store is then self-contained: a
        worker or API server on another machine needs the store's folder, not the landing
        area the genomes arrived in (which is cleaned up after delivery)."""
        fasta = Path(fasta)
        folder = self.root / REFERENCE_DIR
        folder.mkdir(exist_ok=True)
        for source in [fasta, *_fasta_indexes(fasta)]:
            target = folder / source.name
            if not target.exists() or target.stat().st_size != source.stat().st_size:
                partial = target.with_name(f".{target.name}.partial")
                shutil.copyfile(source, partial)
                os.replace(partial, target)
        meta = self.root / "store.json"
        content = json.loads(meta.read_text(encoding="utf-8"))
        content["reference"] = f"{REFERENCE_DIR}/{fasta.name}"
        _atomic_write_text(meta, json.dumps(content) + "\n")

    def current_generation(self) -> int | None:
        pointer = self.state_dir / "CURRENT"
        if not pointer.exists():
            return None
        return int(pointer.read_text(encoding="utf-8").strip())

    def load(self) -> State:
        """The generation in force (an empty one for a new store)."""
        if self._meta().get("format_version") == UPGRADABLE:
            with self.writer():  # cuts its aggregate into chunks
                pass
        generation = self.current_generation()
        if generation is None:
            return State(
                0, SAMPLES_SCHEMA.empty_table(), BATCHES_SCHEMA.empty_table(), self._chunks(None)
            )
        folder = self.state_dir / f"{generation:06d}"
        return State(
            generation,
            pq.read_table(folder / "samples.parquet"),
            pq.read_table(folder / "batches.parquet"),
            self._chunks(generation),
        )

    def _chunks(self, generation: int | None) -> Chunks:
        """The aggregate of a generation as stored (none for None)."""
        if generation is None:
            return Chunks.empty(self.aggregate_dir, self.chunk_bits)
        manifest = pq.read_table(self.state_dir / f"{generation:06d}" / MANIFEST_FILE)
        return Chunks(self.aggregate_dir, self.chunk_bits, manifest.cast(MANIFEST_SCHEMA))

    def commit(self, state: State) -> None:
        """Write `state` as a new generation and make it the one in force: an aggregate
        computed in this process is written as chunks (those it changed), one computed on
        Spark has its chunks written already."""
        counts = state.counts
        if isinstance(counts, Aggregate):
            counts = written(counts, self._chunks(self.current_generation()), state.generation)
        if not isinstance(counts, Chunks):
            raise ValueError("a state to commit holds its aggregate in memory or as chunks")
        folder = self.state_dir / f"{state.generation:06d}"
        tmp = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        pq.write_table(state.samples.cast(SAMPLES_SCHEMA), tmp / "samples.parquet")
        pq.write_table(state.batches.cast(BATCHES_SCHEMA), tmp / "batches.parquet")
        pq.write_table(counts.manifest, tmp / MANIFEST_FILE)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        _atomic_write_text(self.state_dir / "CURRENT", f"{state.generation}\n")
        self._sweep()

    def _sweep(self) -> None:
        """Delete generations and contribution files the generation in force does not use."""
        generation = self.current_generation()
        if self.state_dir.exists():
            for entry in self.state_dir.iterdir():
                if entry.name not in ("CURRENT", f"{generation or 0:06d}"):
                    _remove(entry)
        if self.aggregate_dir.exists() and self._meta().get("format_version") == FORMAT_VERSION:
            kept = set(self._chunks(generation).files.values())
            for file in self.aggregate_dir.iterdir():
                if file.name not in kept:
                    _remove(file)
        contributions = self.root / "contributions"
        if not contributions.exists():
            return
        used: dict[str, str] = {}
        if generation is not None:
            batches = pq.read_table(self.state_dir / f"{generation:06d}" / "batches.parquet")
            used = dict(
                zip(
                    batches.column("batch_id").to_pylist(),
                    batches.column("calls_file").to_pylist(),
                    strict=True,
                )
            )
        for folder in contributions.iterdir():
            batch_id = folder.name.removeprefix("batch=")
            if batch_id not in used:
                _remove(folder)
                continue
            for file in folder.glob("calls.*.parquet"):
                if file.name != used[batch_id]:
                    file.unlink()

    # ---- batches ------------------------------------------------------------------------
    def write_batch(
        self,
        batch_id: str,
        generation: int,
        sites: Sites,
        genome_ids: Sequence[str],
        codes: np.ndarray | SpilledCodes,
        blocks: Blocks | None,
    ) -> str:
        """Write a batch's files (before the commit that adopts them); returns the calls file.

        `codes` are (sites, samples) of `genome_ids`: in memory, or on disk as a VCF's
        reader left them (vcf/spill.py; then `genome_ids` are their samples)."""
        folder = self.batch_dir(batch_id)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "sites.parquet").exists():
            pq.write_table(pa.table(sites.to_arrow()), folder / "sites.parquet", compression="zstd")
        if blocks is not None:
            pq.write_table(
                pa.table(
                    {
                        "chrom": pa.array(blocks.chrom, pa.string()),
                        "start": pa.array(blocks.start, pa.int64()),
                        "end": pa.array(blocks.end, pa.int64()),
                        "code": pa.array(blocks.code, pa.uint8()),
                    },
                    schema=BLOCKS_SCHEMA,
                ),
                folder / "blocks.parquet",
                compression="zstd",
            )
        return self.write_calls(batch_id, generation, genome_ids, codes)

    def write_calls(
        self,
        batch_id: str,
        generation: int,
        genome_ids: Sequence[str],
        codes: np.ndarray | SpilledCodes,
    ) -> str:
        """Write a batch's calls file for `generation`, rows sorted by genome id, one row
        group at a time: codes on disk are read a row group at a time too, so writing the
        batch of a joint VCF of any length holds CALLS_ROW_GROUP samples' codes at once."""
        name = f"calls.{generation:06d}.parquet"
        n_sites = len(codes) if isinstance(codes, SpilledCodes) else codes.shape[0]
        schema = pa.schema(
            [("genome_id", pa.string()), ("codes", pa.binary(n_sites) if n_sites else pa.binary())]
        )
        with pq.ParquetWriter(
            self.batch_dir(batch_id) / name,
            schema,
            compression="zstd",
            compression_level=1,
            use_dictionary=["genome_id"],
        ) as out:
            for names, rows in _row_groups(genome_ids, codes):
                group = pa.table(
                    {"genome_id": pa.array(names, pa.string()), "codes": rows_to_binary(rows)}
                )
                out.write_table(group, row_group_size=CALLS_ROW_GROUP)
        return name

    def batch_sites(self, batch_id: str) -> Sites:
        return Sites.from_arrow(pq.read_table(self.batch_dir(batch_id) / "sites.parquet"))

    def batch_calls(
        self, batch_id: str, calls_file: str, n_sites: int, genome_ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """(genome ids, (sites, samples) codes) of a batch, or of some of its samples only."""
        filters = None if genome_ids is None else [("genome_id", "in", list(genome_ids))]
        table = pq.read_table(self.batch_dir(batch_id) / calls_file, filters=filters)
        return table.column("genome_id").to_pylist(), binary_to_codes(
            table.column("codes"), n_sites
        )

    def batch_blocks(self, batch_id: str) -> Blocks:
        return read_blocks(self.blocks_file(batch_id))

    def blocks_file(self, batch_id: str) -> Path:
        """A batch's blocks (gVCF reference blocks, or callable regions); a Spark executor
        reads it by this path with read_blocks."""
        return self.batch_dir(batch_id) / "blocks.parquet"


def batch_label(batch_id: str) -> str:
    """A batch as messages name it. Its id (`<generation>-<number>`, six digits and four)
    is shaped like a CPR number, so the scrubber every message passes through would mask
    it: `batch 3 of generation 12` says the same and survives."""
    found = re.fullmatch(r"(\d+)-(\d+)", batch_id)
    if found is None:
        return f"batch {batch_id}"
    return f"batch {int(found.group(2))} of generation {int(found.group(1))}"


def read_blocks(path: Path) -> Blocks:
    """A batch's blocks file (Store.blocks_file); one missing or damaged (unreadable, or
    not the columns the store writes, or with gaps) is refused in one line naming it."""
    label = batch_label(path.parent.name.removeprefix("batch="))
    try:
        table = pq.read_table(path)
        damaged = table.schema.remove_metadata() != BLOCKS_SCHEMA or any(
            column.null_count for column in table.columns
        )
        if not damaged and table.num_rows:  # positions a contig can hold
            lowest, highest = pc.min(table.column("start")), pc.max(table.column("end"))
            damaged = lowest.as_py() < 0 or highest.as_py() >= 1 << 31
    except (OSError, pa.ArrowException) as exc:
        raise MedfollowError(
            f"the blocks file of {label} is missing or damaged ({type(exc).__name__})"
        ) from None
    if damaged:
        raise MedfollowError(f"the blocks file of {label} is damaged (columns, gaps or positions)")
    return Blocks(
        table.column("chrom").to_numpy(zero_copy_only=False).astype(str),
        table.column("start").to_numpy(),
        table.column("end").to_numpy(),
        table.column("code").to_numpy().astype(np.uint8),
    )


def _row_groups(
    genome_ids: Sequence[str], codes: np.ndarray | SpilledCodes
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(genome ids, (samples, sites) codes) of each row group of a calls file, in genome id
    order: read from disk a row group at a time, or sliced from codes in memory transposed
    once (a row per sample is what is stored)."""
    if isinstance(codes, SpilledCodes):
        if list(codes.samples) != list(genome_ids):
            raise ValueError("the spilled codes are not of these genomes")
        for lo, hi in _bounds(len(genome_ids)):
            yield codes.names[lo:hi], codes.sample_rows(lo, hi)
        return
    order = np.argsort(np.asarray(genome_ids, dtype=str), kind="stable")
    names = np.asarray(genome_ids, dtype=str)[order]
    per_sample = np.ascontiguousarray(codes[:, order].T)
    for lo, hi in _bounds(len(genome_ids)):
        yield names[lo:hi], per_sample[lo:hi]


def _bounds(n_samples: int) -> Iterator[tuple[int, int]]:
    """The samples of each row group: [lo, hi) by rank."""
    for lo in range(0, n_samples, CALLS_ROW_GROUP):
        yield lo, min(lo + CALLS_ROW_GROUP, n_samples)


def _write_parquet_atomically(table: pa.Table, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)


def _fasta_indexes(fasta: Path) -> list[Path]:
    """The index files beside a FASTA (samtools faidx's .fai, bgzip's .gzi) that exist."""
    return [p for p in (Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")) if p.exists()]
