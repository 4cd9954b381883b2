"""Genotype codes kept on disk while a file is read, so memory holds a block of them at a time.

A joint VCF's codes (one byte per variant and sample) outgrow everything else read from it:
5,000 genomes x 45,000 variants are 225 MB, against a few MB of sites, and the file may be
any length. Each reader process therefore appends the codes of every block it decodes
(block.py) to a file of its own, and keeps only the sites; the batch's calls file is then
written from these files one row group of samples at a time (contributions/store.py), so
no process ever holds the codes of the whole file. The sums the readers compute from each
block's codes (measure sums, 576 bytes a variant) are spilled beside them and read back
straight into place: sent back through a pipe they would be held twice, in pieces, at the
peak of an ingest.

Within a spill file each block is stored sample-major, samples sorted by name: the calls
file's order (one row per sample, sorted by genome id), so the codes of a row group's
samples are one contiguous read per block. The codes of one variant, which merging
duplicate records needs, are one block's read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType

import numpy as np


def name_order(samples: Sequence[str]) -> np.ndarray:
    """The columns of `samples` in the order of their names (the order codes are spilled in)."""
    return np.argsort(np.asarray(samples, dtype=str), kind="stable")


@dataclass(frozen=True)
class Spill:
    """What one reader wrote: its codes file, the number of variants in each block, in
    order, and the file of their sums."""

    path: Path
    rows: tuple[int, ...]

    @property
    def sums_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.sums")

    def sums(self, like: np.ndarray) -> Iterator[np.ndarray]:
        """The sums of each block; `like` has their dtype and the shape of a variant's."""
        per_variant = int(np.prod(like.shape[1:]))
        with open(self.sums_path, "rb") as file:
            for rows in self.rows:
                values = np.fromfile(file, dtype=like.dtype, count=rows * per_variant)
                yield values.reshape(rows, *like.shape[1:])


class SpillWriter:
    """Appends blocks of (variants, samples) codes, and their sums, to a reader's spill
    files (a context manager)."""

    def __init__(self, path: Path, samples: Sequence[str]) -> None:
        self.path = path
        self.order = name_order(samples)
        self.rows: list[int] = []
        self.file = open(path, "wb")  # noqa: SIM115 (closed by __exit__)
        self.sums_file = open(self.spill.sums_path, "wb")  # noqa: SIM115 (the same)

    def __enter__(self) -> SpillWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.file.close()
        self.sums_file.close()

    def write(self, codes: np.ndarray, sums: np.ndarray | None) -> None:
        """Append one block's codes and their sums (if summarised)."""
        self.file.write(codes.T[self.order].tobytes())
        if sums is not None:
            self.sums_file.write(np.ascontiguousarray(sums).tobytes())
        self.rows.append(len(codes))

    @property
    def spill(self) -> Spill:
        return Spill(self.path, tuple(self.rows))


@dataclass(frozen=True)
class _Block:
    """One spilled block: where it starts in its file, its variants, its first raw row."""

    path: Path
    offset: int
    rows: int
    first_row: int


@dataclass(frozen=True)
class SpilledCodes:
    """(variants, samples) genotype codes of one file, held in its readers' spill files.

    The spill files hold raw rows: one per split ALT allele in read order, every reader's
    blocks after the previous reader's. Variant i is raw row `first[i]`, merged (element-
    wise maximum, genotypes.py) with the raw rows `merged_rows` where `merged_into` is i:
    the other records of a variant written by several.
    """

    spills: tuple[Spill, ...]
    samples: tuple[str, ...]
    first: np.ndarray
    merged_rows: np.ndarray
    merged_into: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    @cached_property
    def names(self) -> np.ndarray:
        """The samples in name order: the order of `sample_rows`."""
        return np.asarray(self.samples, dtype=str)[self.order]

    @cached_property
    def order(self) -> np.ndarray:
        return name_order(self.samples)

    @cached_property
    def blocks(self) -> tuple[_Block, ...]:
        out, row = [], 0
        for spill in self.spills:
            offset = 0
            for rows in spill.rows:
                out.append(_Block(spill.path, offset, rows, row))
                offset += rows * len(self.samples)
                row += rows
        return tuple(out)

    @cached_property
    def raw_rows(self) -> int:
        return sum(b.rows for b in self.blocks)

    def take(self, index: np.ndarray) -> SpilledCodes:
        """The codes of variants `index` (distinct), in that order."""
        new = np.full(len(self), -1, dtype=np.int64)
        new[index] = np.arange(len(index))
        into = new[self.merged_into]
        kept = into >= 0
        return SpilledCodes(
            self.spills, self.samples, self.first[index], self.merged_rows[kept], into[kept]
        )

    def sample_rows(self, lo: int, hi: int) -> np.ndarray:
        """(samples, variants) codes of the samples ranked `lo` to `hi` (excluded) by name:
        each block's part is one read, so this holds (hi - lo) x raw rows codes, no more."""
        raw = np.empty((hi - lo, self.raw_rows), dtype=np.uint8)
        count = hi - lo
        handles = {s.path: open(s.path, "rb") for s in self.spills}  # noqa: SIM115
        try:
            for block in self.blocks:
                handle = handles[block.path]
                handle.seek(block.offset + lo * block.rows)
                part = np.fromfile(handle, dtype=np.uint8, count=count * block.rows)
                raw[:, block.first_row : block.first_row + block.rows] = part.reshape(
                    count, block.rows
                )
        finally:
            for handle in handles.values():
                handle.close()
        out = raw[:, self.first]
        np.maximum.at(out.T, self.merged_into, raw[:, self.merged_rows].T)
        return out

    def array(self) -> np.ndarray:
        """(variants, samples) codes, samples in file order; reads only the blocks holding
        these variants, one at a time (all of them for the whole file's codes)."""
        rows = np.concatenate([self.first, self.merged_rows])
        raw = np.empty((len(rows), len(self.samples)), dtype=np.uint8)
        for block in self.blocks:
            inside = np.flatnonzero(
                (rows >= block.first_row) & (rows < block.first_row + block.rows)
            )
            if len(inside):
                data = np.fromfile(
                    block.path,
                    dtype=np.uint8,
                    count=block.rows * len(self.samples),
                    offset=block.offset,
                ).reshape(len(self.samples), block.rows)
                raw[inside] = data[:, rows[inside] - block.first_row].T
        out = raw[: len(self.first)]
        np.maximum.at(out, self.merged_into, raw[len(self.first) :])
        in_file_order = np.empty_like(out)
        in_file_order[:, self.order] = out
        return in_file_order
