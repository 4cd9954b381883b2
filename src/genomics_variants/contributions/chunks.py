"""The working aggregate as stored: cut into genomic chunks, one file per chunk.

A chunk is a window of 2^bits bases of one contig (the store's `chunk_bits`, 20 by
default: 1 Mb, so about 3,100 chunks over GRCh38, each of some 200,000 variants and
120 MB of counts at 650 M variants; Genomics England's aggV2 cuts the genome into 1,371
chunks for the same reason). A chunk's number is the variant's position key (contig rank
and position, sites.py) shifted right by `bits`, so chunk numbers sort in genome order and
the rows of the chunks, one after another, are the aggregate in genome order.

Each chunk is a Parquet file `aggregate/<rank>-<window>.<generation>.parquet` (the contig's
rank in assembly.py, the window's number on it, the generation that wrote it) with the
variant columns, `listed_by` and the counts as one fixed-size binary value per variant
(little-endian int32, cells x measures). A generation's manifest (MANIFEST_SCHEMA) names
the file of each chunk holding variants, its variant count and a digest of its content:
a change writes the chunks it changes under its own generation's names and keeps the
manifest rows of the others, so the files of untouched chunks are shared by generations
and a change costs the chunks it touches, not the store. The digest is of the content, not
the file, so two aggregates (computed in this process or on Spark, say) are compared chunk
by chunk without loading either.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.assembly import CONTIGS, contig_rank
from genomics_variants.contributions.aggregate import WIDTH, Aggregate, Contribution, subtract
from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.measures import N_MEASURES
from genomics_variants.sites import Sites
from genomics_variants.vcf.calls import Blocks
from medfollow_core.errors import MedfollowError

AGGREGATE_DIR = "aggregate"
DEFAULT_CHUNK_BITS = 20
VARIANT = ("chrom", "pos", "ref", "alt")
LISTED = -1
"""The cell of a change row that lists (or unlists) its variant once, counting nothing."""
MANIFEST_SCHEMA = pa.schema(
    [
        ("chunk", pa.int64()),
        ("file", pa.string()),
        ("variants", pa.int64()),
        ("digest", pa.string()),
    ]
)
COUNTS_BYTES = WIDTH * 4
MEASURE_COLUMNS = tuple(f"m{i}" for i in range(N_MEASURES))
"""The measure columns of change rows (measures.py's order)."""


def chunk_numbers(sites: Sites, bits: int) -> np.ndarray:
    """The chunk of each variant."""
    return sites.position_key >> np.int64(bits)


def chunk_file(chunk: int, bits: int, generation: int) -> str:
    rank, window = chunk >> (32 - bits), chunk & ((1 << (32 - bits)) - 1)
    return f"{rank:03d}-{window:07d}.{generation:06d}.parquet"


def digest(aggregate: Aggregate) -> str:
    """A digest of what a chunk holds (variants, listings, counts), whoever computed it."""
    h = hashlib.blake2b(digest_size=16)
    h.update("\n".join(aggregate.sites.ids.tolist()).encode())
    h.update(np.ascontiguousarray(aggregate.listed_by, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(aggregate.counts, dtype="<i4").tobytes())
    return h.hexdigest()


def to_table(aggregate: Aggregate) -> pa.Table:
    counts = np.ascontiguousarray(aggregate.counts, dtype="<i4")
    packed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(COUNTS_BYTES), len(aggregate), [None, pa.py_buffer(counts)]
    )
    return pa.table(
        {
            **aggregate.sites.to_arrow(),
            "listed_by": pa.array(aggregate.listed_by, pa.int32()),
            "counts": packed,
        }
    )


def from_table(table: pa.Table) -> Aggregate:
    packed = table.column("counts").combine_chunks().cast(pa.binary(COUNTS_BYTES))
    raw = np.frombuffer(packed.buffers()[1], dtype="<i4")
    start = packed.offset * WIDTH
    counts = raw[start : start + len(packed) * WIDTH].astype(np.int32)
    return Aggregate(
        Sites.from_arrow(table),
        table.column("listed_by").to_numpy().astype(np.int32),
        counts.reshape(len(packed), N_CELLS, N_MEASURES),
    )


def write_chunk(path: Path, aggregate: Aggregate) -> None:
    """Write a chunk file (aside under a name of this writer's own, then renamed: a reader
    never meets half a file, and two attempts at one Spark task never write into one)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    pq.write_table(to_table(aggregate), partial, compression="zstd", compression_level=1)
    partial.replace(path)


def read_chunk(path: Path) -> Aggregate:
    """A chunk file's rows; a file missing or damaged is refused in one line."""
    try:
        return from_table(pq.read_table(path))
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise MedfollowError(
            f"the aggregate's chunk file {path.name} is missing or damaged "
            f"({type(exc).__name__}): the store needs repair (medfollow variants verify)"
        ) from None


def split(aggregate: Aggregate, bits: int) -> Iterator[tuple[int, Aggregate]]:
    """(chunk, its rows) of an aggregate in genome order, chunks in order."""
    numbers = chunk_numbers(aggregate.sites, bits)
    chunks, starts = np.unique(numbers, return_index=True)
    bounds = [*starts.tolist(), len(aggregate)]
    for chunk, lo, hi in zip(chunks.tolist(), bounds, bounds[1:], strict=False):
        rows = np.arange(lo, hi)
        yield (
            chunk,
            Aggregate(
                aggregate.sites.take(rows), aggregate.listed_by[lo:hi], aggregate.counts[lo:hi]
            ),
        )


def digests_of(aggregate: Aggregate, bits: int) -> dict[int, str]:
    """The digest of each chunk of an aggregate in memory (a manifest's `digest`s)."""
    return {number: digest(part) for number, part in split(aggregate, bits)}


def concat(parts: Iterable[Aggregate]) -> Aggregate:
    parts = list(parts)
    if not parts:
        return Aggregate.empty()
    return Aggregate(
        Sites.concat([p.sites for p in parts]),
        np.concatenate([p.listed_by for p in parts]),
        np.concatenate([p.counts for p in parts]),
    )


def applied(previous: Aggregate, change: pa.Table, sign: int) -> Aggregate:
    """A chunk after a change (+1 adds it, -1 takes it away): rows of `change` (the variant
    columns, `cell` and measures m0, m1, ...) add their measures to their variant and cell,
    or, with cell LISTED, one listing to their variant. An addition gives rows to variants
    newly listed; a removal must find every variant it names, and drops the variants no
    batch lists any more (as aggregate.add and aggregate.subtract do)."""
    cell = change.column("cell").to_numpy()
    listing = cell == LISTED
    variants = Sites.from_arrow(change)
    if sign > 0:
        grown, _ = previous.with_sites(variants.take(np.flatnonzero(listing)))
    else:
        grown = previous
    rows = grown.locate(variants)
    if (rows < 0).any():
        raise MedfollowError(
            "a change names variants the aggregate does not hold (a damaged store)"
        )
    listed = grown.listed_by.copy()
    counts = grown.counts.copy()
    np.add.at(listed, rows[listing], np.int32(sign))
    measures = np.stack(
        [change.column(name).to_numpy() for name in MEASURE_COLUMNS], axis=1
    ).astype(np.int32)
    counted = ~listing
    np.add.at(counts, (rows[counted], cell[counted]), sign * measures[counted])
    out = Aggregate(grown.sites, listed, counts)
    return out.without_unlisted() if sign < 0 else out


class ChunkedCounts(Protocol):
    """Counts worked out chunk by chunk: stored (`Chunks`), such counts less some genomes
    (`Less`), or an aggregate in memory seen by chunk (`InMemory`)."""

    def sizes(self) -> list[tuple[int, int]]:
        """(chunk, variants at most) of every chunk holding variants, in order."""
        ...

    def parts(self, numbers: Collection[int] | None = None) -> Iterator[tuple[int, Aggregate]]:
        """(chunk, its rows) of every chunk (or of `numbers`) holding variants, in order."""
        ...

    def load(self) -> Aggregate: ...


@dataclass(frozen=True)
class InMemory:
    """An aggregate in memory, seen chunk by chunk."""

    aggregate: Aggregate
    bits: int

    def sizes(self) -> list[tuple[int, int]]:
        numbers, counts = np.unique(
            chunk_numbers(self.aggregate.sites, self.bits), return_counts=True
        )
        return list(zip(numbers.tolist(), counts.tolist(), strict=True))

    def parts(self, numbers: Collection[int] | None = None) -> Iterator[tuple[int, Aggregate]]:
        wanted = None if numbers is None else set(numbers)
        for number, part in split(self.aggregate, self.bits):
            if wanted is None or number in wanted:
                yield number, part

    def load(self) -> Aggregate:
        return self.aggregate


def chunked(counts: Aggregate | ChunkedCounts, bits: int) -> ChunkedCounts:
    """Counts in memory or chunked, seen chunk by chunk."""
    return InMemory(counts, bits) if isinstance(counts, Aggregate) else counts


@dataclass(frozen=True)
class Chunks:
    """A generation's working aggregate: its chunk files in `folder`, named by `manifest`
    (MANIFEST_SCHEMA, in chunk order)."""

    folder: Path
    bits: int
    manifest: pa.Table

    @classmethod
    def empty(cls, folder: Path, bits: int) -> Chunks:
        return cls(folder, bits, MANIFEST_SCHEMA.empty_table())

    def __len__(self) -> int:
        return int(np.sum(self.manifest.column("variants").to_numpy()))

    @cached_property
    def files(self) -> dict[int, str]:
        """The file of each chunk holding variants."""
        return self._by_chunk("file")

    @cached_property
    def digests(self) -> dict[int, str]:
        """The digest of each chunk's content (`digest`)."""
        return self._by_chunk("digest")

    def _by_chunk(self, name: str) -> dict[int, str]:
        chunks = self.manifest.column("chunk").to_pylist()
        return dict(zip(chunks, self.manifest.column(name).to_pylist(), strict=True))

    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.files.values()]

    def chunk(self, number: int) -> Aggregate:
        """One chunk's rows (none if it holds no variant)."""
        name = self.files.get(number)
        return Aggregate.empty() if name is None else read_chunk(self.folder / name)

    def sizes(self) -> list[tuple[int, int]]:
        return list(
            zip(
                self.manifest.column("chunk").to_pylist(),
                self.manifest.column("variants").to_pylist(),
                strict=True,
            )
        )

    def parts(self, numbers: Collection[int] | None = None) -> Iterator[tuple[int, Aggregate]]:
        """Each chunk's rows (of all, or of `numbers`), one chunk in memory at a time."""
        for number in self.files if numbers is None else sorted(numbers):
            if number in self.files:
                yield number, self.chunk(number)

    def load(self) -> Aggregate:
        """The whole aggregate in memory (in genome order): for one machine's work only."""
        return concat(part for _, part in self.parts())

    def missing(self, sites: Sites) -> np.ndarray:
        """Which of `sites` no chunk holds, reading only the variant columns of their chunks."""
        out = np.ones(len(sites), dtype=bool)
        numbers = chunk_numbers(sites, self.bits)
        for number in np.unique(numbers).tolist():
            name = self.files.get(number)
            if name is None:
                continue
            held = Sites.from_arrow(pq.read_table(self.folder / name, columns=list(VARIANT)))
            at = np.flatnonzero(numbers == number)
            out[at] = held.locate_sorted(sites.take(at)) < 0
        return out

    def verified_digests(self) -> dict[int, str]:
        """The digest of what each chunk file holds, read one chunk at a time (the manifest's
        digests say what the files should hold)."""
        return {number: digest(part) for number, part in self.parts()}

    def same_as(self, other: Chunks) -> bool:
        """Whether two aggregates hold the same variants and counts (by their digests)."""
        return self.digests == other.digests

    def replaced(self, rows: Iterable[Mapping[str, Any]]) -> Chunks:
        """The aggregate with some chunks rewritten: `rows` are manifest rows of the chunks a
        change touched, a null file for a chunk left without variants."""
        by_chunk = {r["chunk"]: r for r in self.manifest.to_pylist()}
        for row in rows:
            if row["file"] is None:
                by_chunk.pop(row["chunk"], None)
            else:
                by_chunk[row["chunk"]] = dict(row)
        ordered = [by_chunk[c] for c in sorted(by_chunk)]
        return Chunks(self.folder, self.bits, pa.Table.from_pylist(ordered, schema=MANIFEST_SCHEMA))


def written(aggregate: Aggregate, previous: Chunks, generation: int) -> Chunks:
    """`aggregate` (computed in this process) as chunks: the chunks whose content differs
    from `previous` written as `generation`'s files, the others' files kept."""
    previous.folder.mkdir(parents=True, exist_ok=True)
    kept = {row["chunk"]: row for row in previous.manifest.to_pylist()}
    rows = []
    for number, part in split(aggregate, previous.bits):
        sealed = digest(part)
        row = kept.get(number)
        if row is None or row["digest"] != sealed:
            name = chunk_file(number, previous.bits, generation)
            write_chunk(previous.folder / name, part)
            row = {"chunk": number, "file": name, "variants": len(part), "digest": sealed}
        rows.append(row)
    return Chunks(
        previous.folder, previous.bits, pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    )


@dataclass(frozen=True)
class Less:
    """Counts less some stored genomes, worked out chunk by chunk: what a release leaving
    them out counts (not yet released, or withheld), with one chunk in memory at a time.
    `removed` are the genomes' contributions (aggregate.Contribution, their codes at their
    batches' sites), `emptied` the sites of batches no genome would be left in."""

    base: ChunkedCounts
    bits: int
    removed: tuple[Contribution, ...]
    emptied: tuple[Sites, ...]

    def sizes(self) -> list[tuple[int, int]]:
        return self.base.sizes()

    def parts(self, numbers: Collection[int] | None = None) -> Iterator[tuple[int, Aggregate]]:
        removed = [
            (c, _by_chunk(c.sites, self.bits), _blocks_by_chunk(c.blocks, self.bits))
            for c in self.removed
        ]
        emptied = [(s, _by_chunk(s, self.bits)) for s in self.emptied]
        for number, part in self.base.parts(numbers):
            taken = [
                replace(c.at(rows(number)), blocks=blocks(number)) for c, rows, blocks in removed
            ]
            yield number, subtract(part, taken, [s.take(rows(number)) for s, rows in emptied])

    def load(self) -> Aggregate:
        return concat(part for _, part in self.parts())


def _blocks_by_chunk(blocks: Blocks | None, bits: int) -> Any:
    """A function giving the blocks of a genome that speak in a chunk, by the rule of
    aggregate.block_codes_at (at a position, the block starting last at or before it, of
    equal starts the last in the file): the last block starting before the chunk and the
    blocks starting in it, in that order. So subtracting a gVCF genome chunk by chunk
    searches its blocks once per chunk rather than sorting them all again."""
    if blocks is None:
        return lambda number: None
    by_contig: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    names, inverse = np.unique(blocks.chrom, return_inverse=True)
    ranks = np.array([contig_rank(n) for n in names.tolist()], dtype=np.int64)[inverse]
    for rank in np.unique(ranks).tolist():
        held = np.flatnonzero(ranks == rank)
        order = held[np.argsort(blocks.start[held], kind="stable")]
        by_contig[rank] = (order, blocks.start[order])
    width = 32 - bits

    def within(number: int) -> Blocks | None:
        rank = number >> width
        if rank >= len(CONTIGS):  # contigs outside the assembly share a rank: all of them
            return blocks
        order, starts = by_contig.get(rank, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        lo = (number & ((1 << width) - 1)) << bits
        first = max(int(np.searchsorted(starts, lo, "left")) - 1, 0)
        last = int(np.searchsorted(starts, lo + (1 << bits) - 1, "right"))
        taken = order[first:last]
        return Blocks(
            blocks.chrom[taken], blocks.start[taken], blocks.end[taken], blocks.code[taken]
        )

    return within


def _by_chunk(sites: Sites, bits: int) -> Any:
    """A function giving the rows of `sites` in a chunk (sorted once, then searched)."""
    numbers = chunk_numbers(sites, bits)
    order = np.argsort(numbers, kind="stable")
    ordered = numbers[order]

    def rows(number: int) -> np.ndarray:
        lo, hi = np.searchsorted(ordered, [number, number + 1])
        return order[lo:hi]

    return rows
