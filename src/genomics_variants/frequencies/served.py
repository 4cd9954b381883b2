"""The served layout of a release: sorted, compressed blocks on disk and a sparse index in
memory, so the API answers from a release of any size in a small, fixed memory.

`frequencies.parquet` is the release as users and tools read it; the API reads this copy
of it (written beside it by release.py, or directly by a generator at scale). Per table
(`frequencies`, `coverage`), in the release's `served/` folder:

    <table>.blocks   the rows in genome order, BLOCK_ROWS at a time, each block compressed
                     on its own (LZ4), so one look-up decompresses one block
    <table>.index    per block: first key, last key, byte offset, compressed and raw size,
                     first row (six uint64): the only part held in memory, 48 bytes a block
    <table>.json     rows, rows per block, and the columns in the table's order

A table may be written in parts, each by its own process (a Spark executor's share of a
release, release.py), and the parts joined (`join_parts`): their blocks files one after
another (copied by the kernel, not read), their indexes with offsets and first rows moved
on. A part's last block may hold fewer rows, so a block's first row is in the index
rather than computed from its number.

A key is `(contig rank << 32) | position`, so keys sort in genome order; the contig and
position columns are rebuilt from it (and `variant_id`, when the table has one, from
chrom, pos, ref and alt) rather than stored. A block holds its keys, the integer columns
one after another, then the float columns (NaN is null), then each string column as one
text (rows separated by a newline, null written as NUL); decoded, a record is one row of an
integer and a float matrix. A ratio column (a release's AF: AC / AN, null where AN is 0, as
strata.py defines it) is not stored but divided out again when a block is decoded: IEEE
division is exact to the bit, the writer checks that every stored value equals the
division, and its 8 bytes of noise per row are the least compressible part of a block.

Size and cost, measured on rows of the synthetic national release (bench/serving.py: 117
fields per variant): 711 bytes per row uncompressed, 322 as LZ4 row by row (the first
layout); 559 without the AF columns, and with columns stored one after another 213 as LZ4
(15 us to decompress a block of 64 rows) or 160 as zstd level 1 (41 us, most of it pyarrow
setting up a context per call). A look-up is CPU-bound, so LZ4: zstd's smaller file did not
stay in this VM's page cache either (its host pages out cold file pages), and 64 rows keep
the index at 48 bytes per 64 variants (32 rows: 234 bytes per row, 8.5 us).

A block is decoded lazily: keys, the integer and float matrices are views of the
decompressed bytes, and a string column or the ratio columns are worked out only when a
look-up asks for them.

Memory: the index (0.75 bytes per variant at 64 rows per block: 75 MB at 100 M variants,
490 MB at 650 M) plus a shared cache of decompressed blocks of at most
MEDFOLLOW_VARIANT_CACHE_MB (default 64 MB). Blocks are read with pread, so the file's pages
sit in the kernel's page cache, shared by every worker and never counted as theirs.

Every look-up by key reads a block, including one for a key that falls between two blocks
(it reads the next), so the work of answering does not tell whether a position lies at a
block edge; a hidden allele and an absent one at the same position read the same block.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import itertools
import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from genomics_variants.assembly import CONTIG_RANK, CONTIGS
from medfollow_core.errors import MedfollowError

SERVED_DIR = "served"
BLOCK_ROWS = 64
CODEC = "lz4"
CACHE_MB_VARIABLE = "MEDFOLLOW_VARIANT_CACHE_MB"
DEFAULT_CACHE_MB = 64
FORMAT = 3  # 1: row-major, ratio columns stored; 2: columns; 3: first rows in the index
INDEX_COLUMNS = 6
NULL = "\x00"
_ID_COLUMN = "variant_id"


def key_of(chrom: str, pos: int) -> int:
    """The sort key of a position (contig rank, then position); -1 for an unknown contig."""
    rank = CONTIG_RANK.get(chrom)
    return -1 if rank is None else (rank << 32) | pos


def keys_of(chrom: pa.ChunkedArray | pa.Array, pos: np.ndarray) -> np.ndarray:
    """Sort keys of many positions (contigs must be known)."""
    encoded = pc.dictionary_encode(chrom)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names = encoded.dictionary.to_pylist()
    unknown = [n for n in names if n not in CONTIG_RANK]
    if unknown:
        raise MedfollowError(f"served layout: unknown contig {unknown[0]!r}")
    ranks = np.array([CONTIG_RANK[n] for n in names], dtype=np.uint64)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return (ranks[codes] << np.uint64(32)) | np.asarray(pos, dtype=np.uint64)


@dataclass(frozen=True)
class Layout:
    """What a table's blocks hold: the key columns, the integer, float and string columns
    (each group in the table's column order), the ratio columns divided out on reading
    (column, numerator, denominator) and the full column order."""

    chrom: str
    pos: str
    ints: tuple[str, ...]
    floats: tuple[str, ...]
    strings: tuple[str, ...]
    order: tuple[str, ...]
    int_type: str  # "int32" or "int64"
    ratios: tuple[tuple[str, str, str], ...] = ()

    @property
    def decoded_floats(self) -> tuple[str, ...]:
        """The columns of a decoded block's float matrix: the stored ones, then the ratios."""
        return (*self.floats, *(name for name, _, _ in self.ratios))

    @property
    def has_id(self) -> bool:
        return _ID_COLUMN in self.order


def layout_of(
    schema: pa.Schema,
    chrom: str,
    pos: str,
    int_type: str = "int32",
    ratios: Mapping[str, tuple[str, str]] | None = None,
) -> Layout:
    """The layout of a table with this schema, keyed on (chrom, pos). `ratios` names float
    columns that are integer column / integer column (null where the denominator is 0);
    those present with both their columns are divided out on reading, not stored."""
    names = set(schema.names)
    derived = tuple(
        (name, num, den) for name, (num, den) in (ratios or {}).items() if {name, num, den} <= names
    )
    skipped = {chrom, pos, _ID_COLUMN, *(name for name, _, _ in derived)}
    ints, floats, strings = [], [], []
    for field in schema:
        if field.name in skipped:
            continue
        if pa.types.is_integer(field.type) or pa.types.is_boolean(field.type):
            ints.append(field.name)
        elif pa.types.is_floating(field.type):
            floats.append(field.name)
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            strings.append(field.name)
        else:
            raise MedfollowError(f"served layout: column {field.name} of type {field.type}")
    for name, num, den in derived:
        if num not in ints or den not in ints:
            raise MedfollowError(f"served layout: ratio {name} needs integer {num} and {den}")
    return Layout(
        chrom,
        pos,
        tuple(ints),
        tuple(floats),
        tuple(strings),
        tuple(schema.names),
        int_type,
        derived,
    )


def _ratio_places(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Where each ratio's numerator and denominator sit among the integer columns."""
    at = {name: i for i, name in enumerate(layout.ints)}
    return (
        np.array([at[n] for _, n, _ in layout.ratios], dtype=np.intp),
        np.array([at[d] for _, _, d in layout.ratios], dtype=np.intp),
    )


def _divided(ints: np.ndarray, places: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The ratio columns of rows of an integer matrix (NaN where the denominator is 0), as
    strata.py computes them: float64 division of the counts. (Worked on the transpose, which
    is how a block stores the columns.)"""
    by_column = ints.T
    num = by_column[places[0]].astype(np.float64)
    den = by_column[places[1]]
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out.T


# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Rows:
    """Rows of a table ready to be cut into blocks: keys, the integer and float columns
    (stored ones only) stacked column-major, the string columns as text with nulls written
    as NUL."""

    keys: np.ndarray
    ints: np.ndarray
    floats: np.ndarray
    strings: dict[str, list[str]]

    @classmethod
    def of(cls, table: pa.Table, layout: Layout) -> _Rows:
        keys = keys_of(table.column(layout.chrom), table.column(layout.pos).to_numpy())
        n = table.num_rows
        ints = np.zeros((len(layout.ints), n), dtype=layout.int_type)
        for i, name in enumerate(layout.ints):
            values = table.column(name)
            if values.null_count:
                raise MedfollowError(f"served layout: integer column {name} has nulls")
            ints[i] = values.to_numpy()
        floats = np.zeros((len(layout.floats), n), dtype="<f8")
        for i, name in enumerate(layout.floats):
            floats[i] = table.column(name).to_numpy(zero_copy_only=False)
        if layout.ratios:
            divided = _divided(ints.T, _ratio_places(layout))
            for i, (name, num, den) in enumerate(layout.ratios):
                given = table.column(name).to_numpy(zero_copy_only=False)
                if not np.array_equal(given, divided[:, i], equal_nan=True):
                    raise MedfollowError(f"served layout: {name} is not {num} / {den}")
        strings = {}
        for name in layout.strings:
            values = table.column(name).fill_null(NULL).to_pylist()
            if any("\n" in v or (NULL in v and v != NULL) for v in values):
                raise MedfollowError(f"served layout: column {name} holds a newline or NUL")
            strings[name] = values
        return cls(keys, ints, floats, strings)

    def block(self, start: int, stop: int) -> bytes:
        """Rows [start, stop) as one uncompressed block: count, keys, the integer columns
        one after another, the float columns likewise, then each string column's text
        after its length."""
        stop = min(stop, len(self.keys))
        parts = [
            np.uint32(stop - start).tobytes(),
            self.keys[start:stop].astype("<u8").tobytes(),
            np.ascontiguousarray(self.ints[:, start:stop]).tobytes(),
            np.ascontiguousarray(self.floats[:, start:stop]).tobytes(),
        ]
        for values in self.strings.values():
            text = "\n".join(values[start:stop]).encode()
            parts += [np.uint32(len(text)).tobytes(), text]
        return b"".join(parts)


def _compressed(raw: bytes) -> bytes:
    packed: bytes = pa.Codec(CODEC).compress(raw, asbytes=True)
    return packed


def write_served(
    folder: Path,
    name: str,
    chunks: Iterable[pa.Table],
    layout: Layout,
    *,
    block_rows: int = BLOCK_ROWS,
    threads: int = 1,
) -> int:
    """Write a table (chunks in genome order, each with the layout's columns) in the served
    layout as `folder/<name>.*`; returns its rows. Refuses rows out of order."""
    folder.mkdir(parents=True, exist_ok=True)
    index: list[tuple[int, int, int, int, int, int]] = []
    offset, rows, last_key = 0, 0, -1
    pending: pa.Table | None = None
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        with open(folder / f"{name}.blocks", "wb") as out:
            for chunk in itertools.chain(chunks, [None]):  # None: flush what is pending
                if chunk is not None:
                    pending = chunk if pending is None else pa.concat_tables([pending, chunk])
                    whole = (pending.num_rows // block_rows) * block_rows
                else:
                    whole = 0 if pending is None else pending.num_rows
                if pending is None or whole == 0:
                    continue
                part, pending = pending.slice(0, whole), pending.slice(whole)
                ready = _Rows.of(part, layout)
                keys = ready.keys
                if len(keys) and (int(keys[0]) < last_key or bool(np.any(keys[1:] < keys[:-1]))):
                    raise MedfollowError(f"served layout: {name} rows are not in genome order")
                last_key = int(keys[-1])
                starts = range(0, len(keys), block_rows)
                raws = [ready.block(s, s + block_rows) for s in starts]
                packed = list(pool.map(_compressed, raws) if pool else map(_compressed, raws))
                for s, raw, data in zip(starts, raws, packed, strict=True):
                    block_keys = keys[s : s + block_rows]
                    first_row = rows + s
                    index.append(
                        (
                            int(block_keys[0]),
                            int(block_keys[-1]),
                            offset,
                            len(data),
                            len(raw),
                            first_row,
                        )
                    )
                    out.write(data)
                    offset += len(data)
                rows += len(keys)
    finally:
        if pool is not None:
            pool.shutdown()
    np.array(index, dtype="<u8").reshape(-1, INDEX_COLUMNS).tofile(folder / f"{name}.index")
    _write_meta(folder, name, layout, rows, block_rows)
    return rows


def _write_meta(folder: Path, name: str, layout: Layout, rows: int, block_rows: int) -> None:
    meta = {
        "format": FORMAT,
        "rows": rows,
        "block_rows": block_rows,
        "chrom": layout.chrom,
        "pos": layout.pos,
        "ints": list(layout.ints),
        "floats": list(layout.floats),
        "strings": list(layout.strings),
        "order": list(layout.order),
        "int_type": layout.int_type,
        "ratios": [list(r) for r in layout.ratios],
        "codec": CODEC,
    }
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def join_parts(folder: Path, name: str, parts: Iterable[Path]) -> int:
    """Join tables written in parts (folders each holding table `name`, in genome order, in
    one layout) into one table in `folder`; returns its rows. The blocks are copied by the
    kernel (copy_file_range), so joining costs the disk's time, not decoding's; the parts
    are left for the caller to remove."""
    folder.mkdir(parents=True, exist_ok=True)
    layout: Layout | None = None
    offset, rows, block_rows, last_key = 0, 0, BLOCK_ROWS, -1
    with (
        open(folder / f"{name}.blocks", "wb") as blocks,
        open(folder / f"{name}.index", "wb") as index,
    ):
        for part in parts:
            meta = json.loads((part / f"{name}.json").read_text(encoding="utf-8"))
            shape = _layout_of_meta(meta)
            if layout is not None and shape != layout:
                raise MedfollowError(f"served layout: the parts of {name} differ in layout")
            layout, block_rows = shape, int(meta["block_rows"])
            entries = np.fromfile(part / f"{name}.index", dtype="<u8").reshape(-1, INDEX_COLUMNS)
            if len(entries):
                if int(entries[0, 0]) < last_key:
                    raise MedfollowError(f"served layout: the parts of {name} are not in order")
                last_key = int(entries[-1, 1])
                entries[:, 2] += np.uint64(offset)
                entries[:, 5] += np.uint64(rows)
                entries.tofile(index)
            offset += _append(blocks, part / f"{name}.blocks")
            rows += int(meta["rows"])
    if layout is None:
        raise MedfollowError(f"served layout: no parts of {name} to join")
    _write_meta(folder, name, layout, rows, block_rows)
    return rows


def _append(out: Any, path: Path) -> int:
    """Append a file's bytes to an open file, in the kernel; returns the bytes appended."""
    out.flush()
    size = path.stat().st_size
    with open(path, "rb") as source:
        done = 0
        while done < size:
            try:
                copied = os.copy_file_range(source.fileno(), out.fileno(), size - done)
            except OSError as exc:  # a file system without it (some network or FUSE ones)
                if exc.errno not in (errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                source.seek(done)
                shutil.copyfileobj(source, out)
                out.flush()
                return size
            if copied == 0:
                raise MedfollowError(f"served layout: {path.name} shrank while being joined")
            done += copied
    return size


def write_table(
    folder: Path,
    name: str,
    table: pa.Table,
    chrom: str,
    pos: str,
    block_rows: int = BLOCK_ROWS,
    ratios: Mapping[str, tuple[str, str]] | None = None,
) -> int:
    """A whole in-memory table (a release's) in the served layout."""
    bounds = np.iinfo(np.int32)
    ranges = [
        pc.min_max(table.column(f.name)).as_py()
        for f in table.schema
        if pa.types.is_integer(f.type) and f.name not in (chrom, pos)
    ]
    wide = any(
        r["min"] is not None and not bounds.min <= r["min"] <= r["max"] <= bounds.max
        for r in ranges
    )
    layout = layout_of(table.schema, chrom, pos, "int64" if wide else "int32", ratios)
    step = block_rows * BLOCKS_PER_PASS
    chunks = (table.slice(start, step) for start in range(0, table.num_rows, step))
    return write_served(folder, name, chunks, layout, block_rows=block_rows)


BLOCKS_PER_PASS = 256
"""Blocks `write_table` lays out at a time: the packed matrices and the raw and compressed
blocks of one pass exist at once, so a release's writing needs memory for that many blocks,
not for a copy of the whole table three times over (the peak of ingest's memory before)."""


def is_current(folder: Path, name: str) -> bool:
    """Whether `folder` holds table `name` in this version's served layout."""
    try:
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


# ---------------------------------------------------------------------------- reading


class Block:
    """One decompressed block. `keys`, `ints` and `stored_floats` are views of its bytes
    (rows by columns); the float matrix with the ratio columns (`floats`) and each string
    column (`string`) are worked out when first asked for and kept with the block."""

    __slots__ = ("_floats", "_places", "_raw", "_strings", "_texts", "ints", "keys", "stored")

    def __init__(
        self,
        raw: pa.Buffer,
        keys: np.ndarray,
        ints: np.ndarray,
        stored_floats: np.ndarray,
        texts: dict[str, tuple[int, int]],
        places: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        self._raw = raw
        self.keys = keys
        self.ints = ints
        self.stored = stored_floats
        self._texts = texts  # string column -> (offset, size) in raw
        self._places = places
        self._floats: np.ndarray | None = None
        self._strings: dict[str, list[str]] = {}

    @property
    def nbytes(self) -> int:
        """What the cache charges for it: the bytes, and the decoded strings and float matrix
        (stored columns copied beside the ratios) it may come to hold."""
        rows = len(self.keys)
        floats = 0 if self._places is None else self.stored.shape[1] + len(self._places[0])
        return int(self._raw.size) + 8 * rows * floats + 64 * rows * len(self._texts)

    @property
    def floats(self) -> np.ndarray:
        """The stored float columns, then the ratio columns."""
        if self._floats is None:
            if self._places is None:
                self._floats = self.stored
            else:
                divided = _divided(self.ints, self._places)
                self._floats = np.concatenate([self.stored, divided], axis=1)
        return self._floats

    def float_at(self, at: int, column: int) -> float:
        """One value of `floats`, without working out the block's ratios."""
        width = self.stored.shape[1]
        if column < width or self._places is None:
            return float(self.stored[at, column])
        num = float(self.ints[at, self._places[0][column - width]])
        den = float(self.ints[at, self._places[1][column - width]])
        return num / den if den > 0 else float("nan")  # float64 division, as _divided

    def has_string(self, name: str) -> bool:
        return name in self._texts

    def string(self, name: str) -> list[str]:
        """A string column's values (NULL for null)."""
        values = self._strings.get(name)
        if values is None:
            offset, size = self._texts[name]
            text = self._raw[offset : offset + size].to_pybytes().decode()
            values = text.split("\n") if len(self.keys) else []
            self._strings[name] = values
        return values


class BlockCache:
    """Decompressed blocks, least recently used dropped first, within a byte budget (one
    per process, shared by every table it serves)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._blocks: OrderedDict[tuple[int, int], Block] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> BlockCache:
        text = os.environ.get(CACHE_MB_VARIABLE, "").strip()
        try:
            megabytes = float(text) if text else DEFAULT_CACHE_MB
        except ValueError:
            raise MedfollowError(f"{CACHE_MB_VARIABLE} must be a number of megabytes") from None
        if megabytes < 0:
            raise MedfollowError(f"{CACHE_MB_VARIABLE} must not be negative")
        return cls(int(megabytes * 2**20))

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: tuple[int, int]) -> Block | None:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def put(self, key: tuple[int, int], block: Block) -> None:
        with self._lock:
            if key in self._blocks or block.nbytes > self.max_bytes:
                return
            self._blocks[key] = block
            self._bytes += block.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._blocks.popitem(last=False)
                self._bytes -= dropped.nbytes


_TABLE_IDS = iter(range(1 << 62))
_NONBLOCKING: contextvars.ContextVar[bool] = contextvars.ContextVar("nonblocking", default=False)


class WouldBlock(Exception):
    """A block had to come from disk while reads were to be answered from memory only.

    `fetch()` reads that block into the block cache, waiting for the disk (call it outside
    `nonblocking()`, e.g. in a thread); the same work tried again then finds it in memory."""

    def __init__(self, fetch: Callable[[], object]) -> None:
        super().__init__("a block must come from disk")
        self.fetch = fetch


@contextlib.contextmanager
def nonblocking() -> Iterator[None]:
    """Within this, block reads never wait for the disk: a block in neither the cache nor
    the kernel's page cache raises WouldBlock (so an event loop can hand the work to a
    thread instead of stalling every other request behind one disk read)."""
    token = _NONBLOCKING.set(True)
    try:
        yield
    finally:
        _NONBLOCKING.reset(token)


def _read_if_cached(fd: int, size: int, offset: int) -> bytearray | None:
    """pread with RWF_NOWAIT: the bytes if the page cache holds them all, else None.

    For a page not cached the kernel starts its read-ahead without waiting; on a disk that
    answers at once the page may be there when it looks again, and the bytes come back.
    That is no stall, so it is not a miss either: None means the read would have waited."""
    buffer = bytearray(size)
    try:
        done = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except BlockingIOError:
        return None
    return buffer if done == size else None


class BlockTable:
    """A table in the served layout: rows found by key through the in-memory index, read
    a block at a time from disk. Row numbers run in genome order from 0."""

    def __init__(self, folder: Path, name: str, cache: BlockCache) -> None:
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise MedfollowError(f"served layout {folder / name}: unknown format")
        self.layout = _layout_of_meta(meta)
        self.rows = int(meta["rows"])
        self.block_rows = int(meta["block_rows"])
        index = np.fromfile(folder / f"{name}.index", dtype="<u8").reshape(-1, INDEX_COLUMNS)
        self._first = np.ascontiguousarray(index[:, 0])
        self._last = np.ascontiguousarray(index[:, 1])
        self._offset = np.ascontiguousarray(index[:, 2])
        self._size = np.ascontiguousarray(index[:, 3])
        self._raw = np.ascontiguousarray(index[:, 4])
        self._start = index[:, 5].astype(np.int64)  # each block's first row
        self._codec = pa.Codec(meta["codec"])
        self._cache = cache
        self._token = next(_TABLE_IDS)
        self._file = open(folder / f"{name}.blocks", "rb", buffering=0)  # noqa: SIM115
        self._int_at = {c: i for i, c in enumerate(self.layout.ints)}
        self._float_at = {c: i for i, c in enumerate(self.layout.decoded_floats)}
        self._places = _ratio_places(self.layout) if self.layout.ratios else None
        self._recent: tuple[int, Block] | None = None  # the block last handed out

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    def __len__(self) -> int:
        return self.rows

    @property
    def blocks(self) -> int:
        return len(self._offset)

    @property
    def index_bytes(self) -> int:
        arrays = (self._first, self._last, self._offset, self._size, self._raw, self._start)
        return sum(int(a.nbytes) for a in arrays)

    def block(self, number: int) -> Block:
        """One block, from the cache or from disk. Inside `nonblocking()`, a block that is
        not in the kernel's page cache either raises WouldBlock instead of waiting for the
        disk."""
        recent = self._recent  # one look-up asks for its block several times
        if recent is not None and recent[0] == number:
            return recent[1]
        key = (self._token, number)
        found = self._cache.get(key)
        if found is not None:
            self._recent = (number, found)
            return found
        size, offset = int(self._size[number]), int(self._offset[number])
        data: bytes | bytearray | None
        if _NONBLOCKING.get():
            data = _read_if_cached(self._file.fileno(), size, offset)
            if data is None:
                raise WouldBlock(functools.partial(self.block, number))
        else:
            data = os.pread(self._file.fileno(), size, offset)
        raw = self._codec.decompress(data, decompressed_size=int(self._raw[number]))
        block = self._decode(raw)
        self._cache.put(key, block)
        self._recent = (number, block)
        return block

    def _decode(self, raw: pa.Buffer) -> Block:
        n = int(np.frombuffer(raw, "<u4", 1)[0])
        at = 4
        keys = np.frombuffer(raw, "<u8", n, at)
        at += 8 * n
        width = np.dtype(self.layout.int_type).itemsize
        ints = np.frombuffer(raw, self.layout.int_type, n * len(self.layout.ints), at)
        at += width * n * len(self.layout.ints)
        floats = np.frombuffer(raw, "<f8", n * len(self.layout.floats), at)
        at += 8 * n * len(self.layout.floats)
        texts: dict[str, tuple[int, int]] = {}
        for name in self.layout.strings:
            size = int(np.frombuffer(raw, "<u4", 1, at)[0])
            texts[name] = (at + 4, size)
            at += 4 + size
        return Block(
            raw,
            keys,
            ints.reshape(len(self.layout.ints), n).T,
            floats.reshape(len(self.layout.floats), n).T,
            texts,
            self._places,
        )

    # -- finding rows

    def _row_at_or_after(self, key: int | np.uint64) -> int:
        """The first row whose key is >= key (rows when none). Reads one block always."""
        if not self.blocks:
            return 0
        key = np.uint64(key)  # a Python int would make numpy compare the arrays as floats
        number = int(self._last.searchsorted(key, "left"))
        if number == self.blocks:  # past the end: still read a block, as every look-up does
            self.block(number - 1)
            return self.rows
        found = self.block(number)
        return int(self._start[number]) + int(found.keys.searchsorted(key, "left"))

    def rows_between(self, first_key: int, last_key: int) -> range:
        """Rows with first_key <= key <= last_key."""
        lo = self._row_at_or_after(first_key)
        hi = self._row_at_or_after(last_key + 1) if last_key >= first_key else lo
        return range(lo, max(lo, hi))

    def rows_at(self, key: int) -> range:
        """Rows with exactly this key: rows_between(key, key) with one block read where the
        rows do not run on into the next block."""
        if not self.blocks:
            return range(0)
        wanted = np.uint64(key)
        number = int(self._last.searchsorted(wanted, "left"))
        if number == self.blocks:
            self.block(number - 1)
            return range(self.rows, self.rows)
        found = self.block(number)
        base = int(self._start[number])
        lo = base + int(found.keys.searchsorted(wanted, "left"))
        hi = base + int(found.keys.searchsorted(wanted, "right"))
        runs_on = number + 1 < self.blocks and self._first[number + 1] == wanted
        if hi == base + len(found.keys) and runs_on:  # the position continues past the block
            hi = self._row_at_or_after(key + 1)
        return range(lo, hi)

    def row_at_or_before(self, key: int | np.uint64) -> int | None:
        """The last row whose key is <= key, or None."""
        if not self.blocks:
            return None
        key = np.uint64(key)
        number = int(self._first.searchsorted(key, "right")) - 1
        if number < 0:
            self.block(0)
            return None
        found = self.block(number)
        return int(self._start[number]) + int(found.keys.searchsorted(key, "right")) - 1

    # -- reading rows

    def locate(self, row: int) -> tuple[Block, int]:
        """The block holding a row and the row's place in it."""
        if not 0 <= row < self.rows:
            raise IndexError(row)
        number = int(self._start.searchsorted(row, "right")) - 1
        return self.block(number), row - int(self._start[number])

    def value(self, name: str, row: int) -> Any:
        """One field of one row as a Python value (None for null; NaN is null)."""
        block, at = self.locate(row)
        return self.value_in(block, at, name)

    def value_in(self, block: Block, at: int, name: str) -> Any:
        """One field of row `at` of a block as a Python value (None for null)."""
        if name == self.layout.pos:
            return int(block.keys[at]) & 0xFFFFFFFF
        if name == self.layout.chrom:
            return CONTIGS[int(block.keys[at]) >> 32]
        if name in self._int_at:
            return int(block.ints[at, self._int_at[name]])
        if name in self._float_at:
            real = block.float_at(at, self._float_at[name])
            return None if real != real else real
        if block.has_string(name):
            text = block.string(name)[at]
            return None if text == NULL else text
        if name == _ID_COLUMN and self.layout.has_id:
            return "-".join(
                (
                    CONTIGS[int(block.keys[at]) >> 32],
                    str(int(block.keys[at]) & 0xFFFFFFFF),
                    str(block.string("ref")[at]),
                    str(block.string("alt")[at]),
                )
            )
        raise KeyError(name)

    def _spans(self, rows: np.ndarray) -> Iterator[tuple[Block, np.ndarray, np.ndarray]]:
        """(block, places in it, positions in `rows`) for rows grouped by block."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        numbers = self._start.searchsorted(rows, "right") - 1
        order = np.argsort(numbers, kind="stable")
        bounds = np.flatnonzero(np.diff(numbers[order])) + 1
        for group in np.split(order, bounds):
            number = int(numbers[group[0]])
            yield self.block(number), rows[group] - int(self._start[number]), group

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """One column at the given rows (any order), read block by block."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 1:  # the common case (one variant's tier check): no grouping
            block, at = self.locate(int(rows[0]))
            value = self.value_in(block, at, name)
            kind = np.int64 if name in self._int_at or name == self.layout.pos else None
            return np.array(
                [value], dtype=kind or (np.float64 if name in self._float_at else object)
            )
        if name in self._int_at:
            out: np.ndarray = np.zeros(len(rows), dtype=np.int64)
            for block, places, where in self._spans(rows):
                out[where] = block.ints[places, self._int_at[name]]
            return out
        if name in self._float_at:
            out = np.zeros(len(rows), dtype=np.float64)
            for block, places, where in self._spans(rows):
                out[where] = block.floats[places, self._float_at[name]]
            return out
        if name == self.layout.pos:
            out = np.zeros(len(rows), dtype=np.int64)
            for block, places, where in self._spans(rows):
                out[where] = (block.keys[places] & np.uint64(0xFFFFFFFF)).astype(np.int64)
            return out
        out = np.empty(len(rows), dtype=object)
        for block, places, where in self._spans(rows):
            out[where] = [self.value_in(block, at, name) for at in places.tolist()]
        return out

    def table(self, rows: np.ndarray) -> pa.Table:
        """The rows as an Arrow table with the table's columns in their order."""
        columns = {}
        for name in self.layout.order:
            values = self.column(name, rows)
            kind = values.dtype.kind
            if kind == "f":
                columns[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
            elif kind in "iu":
                columns[name] = pa.array(values, pa.int64())
            else:
                columns[name] = pa.array(values.tolist(), pa.string())
        return pa.table(columns)


def _layout_of_meta(meta: Mapping[str, Any]) -> Layout:
    """The layout a table's json names."""
    return Layout(
        meta["chrom"],
        meta["pos"],
        tuple(meta["ints"]),
        tuple(meta["floats"]),
        tuple(meta["strings"]),
        tuple(meta["order"]),
        meta["int_type"],
        tuple((name, num, den) for name, num, den in meta.get("ratios", [])),
    )
