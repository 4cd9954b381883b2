"""Read BCF records straight into numpy: the FORMAT arrays of a record are views of the file.

BCF (the binary VCF of the hts-specs, version 2.2) stores each FORMAT field of a record as
one typed array of samples x values, so a record's GT, GQ, DP and AD need no parsing at
all: they are `np.frombuffer` views, copied as stored into the block's buffers and
converted to the decoder's conventions (those of htslib and cyvcf2) a block at a time
(block.py). Reading through cyvcf2 instead (four calls a record, each converting and
copying) took about 10% more CPU for the whole read of the bench's wide cohort (2,000
samples x 21,089 records: 7.7-8.0 s against 6.9-7.2 s, pysam's parsing included). Only
what counting needs is decoded: CHROM, POS, the END a record spans, the alleles and the
FORMAT fields asked for; IDs, QUAL, FILTER and INFO are skipped.

The file is the one transcode.py writes (or an input BCF, BGZF-compressed either way), read
through htslib's BGZF reader in large chunks; the string and contig dictionaries come from
its header, as htslib numbers them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pysam
from pysam.libcbgzf import BGZFile

from genomics_variants.vcf.genotypes import VECTOR_END
from medfollow_core.errors import MedfollowError

MAGIC = b"BCF\x02"
CHUNK = 8 << 20  # bytes read from the BGZF stream at once
INT32_MISSING = np.iinfo(np.int32).min  # what htslib (and cyvcf2) return for "."
INT32_END = INT32_MISSING + 1  # padding after the last value of a shorter vector
# type code -> (numpy dtype, missing value, vector-end value) of BCF typed integers
INT_TYPES: dict[int, tuple[np.dtype[Any], int, int]] = {
    1: (np.dtype(np.int8), -128, -127),
    2: (np.dtype("<i2"), -32768, -32767),
    3: (np.dtype("<i4"), INT32_MISSING, INT32_END),
}
INT_SCALARS = {1: struct.Struct("<b"), 2: struct.Struct("<h"), 3: struct.Struct("<i")}
FLOAT_TYPE, CHAR_TYPE = 5, 7
WIDTH = {0: 0, 1: 1, 2: 2, 3: 4, FLOAT_TYPE: 4, CHAR_TYPE: 1}  # type 0: an empty vector
SHARED = struct.Struct(
    "<iiifII"
)  # CHROM, POS (0-based), rlen, QUAL, n_info|n_allele<<16, n_fmt_sample


@dataclass(slots=True)
class Record:
    """One record: its site, and the FORMAT fields asked for (samples selected) as they
    are stored: name -> (BCF type, samples x values); decode() turns a block of them into
    the conventions of cyvcf2 (which the decoder follows) at once."""

    CHROM: str
    POS: int
    end: int
    REF: str
    ALT: list[str]
    raw: dict[str, tuple[int, np.ndarray]]


class BcfReader:
    """Iterate the records of a BCF file, keeping `samples` (in that order) and decoding the
    FORMAT fields in `fields` (GT always)."""

    def __init__(self, path: Path, samples: Sequence[str], fields: Sequence[str]) -> None:
        self.path = path
        quiet = pysam.set_verbosity(0)  # htslib would complain that a piece has no index
        try:
            source = pysam.VariantFile(str(path))
        finally:
            pysam.set_verbosity(quiet)
        with source:
            header = source.header
            names = list(header.samples)
            # htslib's dictionary numbers, which the records use (pysam's stubs lack `id`)
            self.contigs = {int(c.id): str(name) for name, c in header.contigs.items()}
            self.wanted = {
                int(header.formats[f].id): f  # type: ignore[attr-defined]
                for f in ("GT", *fields)
                if f in header.formats
            }
        position = {name: i for i, name in enumerate(names)}
        try:
            picked = np.array([position[s] for s in samples], dtype=np.intp)
        except KeyError as exc:
            raise MedfollowError(f"{path.name}: sample {exc.args[0]} is not in the file") from None
        self.n_samples = len(names)
        self.select = None if picked.tolist() == list(range(len(names))) else picked

    def __iter__(self) -> Iterator[Record]:
        stream = BGZFile(str(self.path), "rb", index=None)
        try:
            buffer = memoryview(b"")
            at = 0

            def need(size: int) -> None:
                nonlocal buffer, at
                if len(buffer) - at >= size:
                    return
                pieces = [bytes(buffer[at:])]
                have = len(pieces[0])
                while have < size:
                    chunk = stream.read(max(CHUNK, size - have))
                    if not chunk:
                        raise MedfollowError(f"{self.path.name}: BCF ends inside a record")
                    pieces.append(chunk)
                    have += len(chunk)
                buffer, at = memoryview(b"".join(pieces)), 0

            head = stream.read(9)
            if len(head) < 9 or head[:4] != MAGIC:
                raise MedfollowError(f"{self.path.name}: not a BCF 2 file")
            (text_length,) = struct.unpack_from("<I", head, 5)
            remaining = text_length
            while remaining:  # the header text (pysam parsed it already)
                skipped = stream.read(min(remaining, CHUNK))
                if not skipped:
                    raise MedfollowError(f"{self.path.name}: BCF header is cut short")
                remaining -= len(skipped)
            while True:
                if len(buffer) - at < 8:
                    try:
                        need(8)
                    except MedfollowError:
                        if len(buffer) - at == 0:
                            return
                        raise
                shared, indiv = struct.unpack_from("<II", buffer, at)
                need(8 + shared + indiv)
                yield self._record(buffer, at + 8, shared)
                at += 8 + shared + indiv
        finally:
            stream.close()

    def _record(self, buf: memoryview, at: int, shared: int) -> Record:
        chrom, pos, rlen, _qual, allele_info, fmt_sample = SHARED.unpack_from(buf, at)
        n_allele, n_fmt = allele_info >> 16, fmt_sample >> 24
        n = fmt_sample & 0xFFFFFF
        if n != self.n_samples:
            raise MedfollowError(
                f"{self.path.name}: a record has {n} samples, the header {self.n_samples}"
            )
        offset = at + SHARED.size
        _, offset = _typed_bytes(buf, offset)  # ID
        alleles = []
        for _ in range(n_allele):
            text, offset = _typed_bytes(buf, offset)
            alleles.append(text.decode("ascii"))
        offset = at + shared  # FILTER and INFO are not needed
        raw: dict[str, tuple[int, np.ndarray]] = {}
        for _ in range(n_fmt):
            key, offset = _typed_int(buf, offset)
            kind, count, offset = _descriptor(buf, offset)
            name = self.wanted.get(key)
            if name is not None:
                values = np.frombuffer(buf, dtype=_dtype(kind), count=n * count, offset=offset)
                values = values.reshape(n, count)
                raw[name] = (kind, values if self.select is None else values[self.select])
            offset += n * count * WIDTH[kind]
        return Record(self.contigs[chrom], pos + 1, pos + rlen, alleles[0], alleles[1:], raw)


def _typed_int(buf: memoryview, offset: int) -> tuple[int, int]:
    """A typed integer scalar (a dictionary key, or a long vector's count) and the offset
    after it."""
    reader = INT_SCALARS[buf[offset] & 0x0F]
    return reader.unpack_from(buf, offset + 1)[0], offset + 1 + reader.size


def _descriptor(buf: memoryview, offset: int) -> tuple[int, int, int]:
    """(type, count, offset after) of a typed vector's descriptor."""
    byte = buf[offset]
    kind, count = byte & 0x0F, byte >> 4
    offset += 1
    if count == 15:
        count, offset = _typed_int(buf, offset)
    return kind, count, offset


def _typed_bytes(buf: memoryview, offset: int) -> tuple[bytes, int]:
    kind, count, offset = _descriptor(buf, offset)
    size = count * WIDTH.get(kind, 1)
    return bytes(buf[offset : offset + size]), offset + size


def _dtype(kind: int) -> np.dtype[Any]:
    if kind in INT_TYPES:
        return INT_TYPES[kind][0]
    if kind == FLOAT_TYPE:
        return np.dtype("<f4")
    return np.dtype(np.uint8)


def decode_alleles(slots: np.ndarray, kinds: np.ndarray) -> None:
    """GT slots (records x samples, int16, raw BCF values of each row's type `kinds`) to
    allele index, MISSING or VECTOR_END, in place; rows of kind 0 are decoded already.

    A block's rows nearly always share one type (8-bit GT below 63 alleles): then the slots
    are decoded where they lie, without copying the rows out and back (`_rows_of`)."""
    for kind in (1, 2):
        rows = _rows_of(kinds, kind)
        if rows is None:
            continue
        raw = slots if isinstance(rows, slice) else slots[rows]
        end = raw == INT_TYPES[kind][2]
        np.right_shift(raw, 1, out=raw)
        raw -= 1
        np.putmask(raw, end, VECTOR_END)
        if not isinstance(rows, slice):
            slots[rows] = raw


def decode_ints(values: np.ndarray, kinds: np.ndarray) -> None:
    """Integer fields (records x samples [x values], int32, raw BCF values of each row's
    type `kinds`) to cyvcf2's int32 conventions ("." INT32_MISSING, padding INT32_END), in
    place; rows of kind 0 or 3 need nothing.

    A narrower type's missing and vector-end values are adjacent, as are INT32_MISSING and
    INT32_END, so one shift decodes both. The block is scanned once, where it lies, for
    cells that may hold either type's pair (the block's types are mixed: DP and AD are
    8-bit in most records, 16-bit in deep ones); those few are then checked against their
    own row's type and shifted. Copying each type's rows out and back cost three times as
    much."""
    rows = len(kinds)
    if not rows:
        return
    flat = values.reshape(-1)  # a view of a C-ordered block; else written back below
    low, high = INT_TYPES[2][1], INT_TYPES[1][2]  # every narrower type's pair lies in between
    found = np.flatnonzero((flat >= low) & (flat <= high))
    if not len(found):
        return
    kind = kinds[found // (len(flat) // rows)]
    value = flat[found]
    hit = (value >= _SENTINEL_LOW[kind]) & (value <= _SENTINEL_HIGH[kind])
    flat[found[hit]] = value[hit] + _SENTINEL_SHIFT[kind[hit]]
    if not np.shares_memory(flat, values):
        values[...] = flat.reshape(values.shape)


# per BCF type code: the bounds of its missing and vector-end pair (empty where there is
# nothing to decode) and what takes them to INT32_MISSING and INT32_END
_SENTINEL_LOW = np.ones(16, dtype=np.int32)
_SENTINEL_HIGH = np.zeros(16, dtype=np.int32)
_SENTINEL_SHIFT = np.zeros(16, dtype=np.int32)
for _kind in (1, 2):
    _SENTINEL_LOW[_kind], _SENTINEL_HIGH[_kind] = INT_TYPES[_kind][1:]
    _SENTINEL_SHIFT[_kind] = INT32_MISSING - INT_TYPES[_kind][1]


def _rows_of(kinds: np.ndarray, kind: int) -> slice | np.ndarray | None:
    """The rows of type `kind`: all of them (a slice: decoded in place), some (an index:
    copied out and back), or None."""
    match = kinds == kind
    if match.all():
        return slice(None)
    rows = np.flatnonzero(match)
    return rows if len(rows) else None


def gt_slots(kind: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The first two GT slots of a record and the type they are in (0: decoded already, for
    the rare 32-bit GT); a haploid record's second slot is its type's vector end."""
    if kind not in INT_TYPES:
        raise MedfollowError("FORMAT/GT is not an integer array")
    end = INT_TYPES[kind][2]
    first = values[:, 0]
    second = values[:, 1] if values.shape[1] > 1 else np.full(len(first), end, values.dtype)
    if kind == 3:
        pair = np.stack([first, second])
        decoded = np.where(pair == end, VECTOR_END, (pair >> 1) - 1).astype(np.int16)
        return decoded[0], decoded[1], 0
    return first, second, kind


def int_values(kind: int, values: np.ndarray) -> tuple[np.ndarray, int]:
    """An integer field as stored with its type, or a Float one (some callers declare GQ
    so) truncated to int32 with "." as INT32_MISSING (type 3: nothing left to decode)."""
    if kind in INT_TYPES:
        return values, kind
    if kind == FLOAT_TYPE:
        return np.where(np.isnan(values), INT32_MISSING, values).astype(np.int32), 3
    raise MedfollowError("a FORMAT field counted on is neither Integer nor Float")
