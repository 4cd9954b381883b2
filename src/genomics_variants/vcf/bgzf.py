"""A bgzipped VCF's text from any block on, inflated with ISA-L.

BGZF (SAM/BAM specification, section 4.1) is a series of independent gzip members, blocks
of at most 64 KiB of text each, ended by an empty block (the end-of-file marker), and a
reader may start at any block: a block is found by its fixed header, so a file can be cut
at blocks without an index (partition.py). A line belongs to the piece in which its first
byte lies: a piece drops the end of a line begun before it (`Piece.skip`) and finishes its
own last line in the blocks after it, so every line is read exactly once whatever the cuts.

Why not htslib's own reader: pysam's htslib inflates with the system zlib, and its tabix
region iterator scans every byte of every line to find where records lie. ISA-L
(python-isal) inflates the wide bench cohort's 146 MB in 0.41 s of CPU where zlib takes
1.37 s, and cutting at blocks needs no scan. The text goes on to htslib's VCF parser
through a pipe (transcode.py).

The file is read with positioned reads, not mapped: a file shrinking under a mapping kills
the process with SIGBUS, where a read only comes back short (refused as truncated).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

from medfollow_core.errors import MedfollowError

MAGIC = b"\x1f\x8b\x08\x04"  # gzip, deflate, FEXTRA set: every BGZF block starts so
EOF_MARKER = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
GZIP_WBITS = 31  # a whole gzip member: header, deflate stream, CRC32 and size checked
INFLATE_ERROR: type[Exception] = isal_zlib.IsalError  # type: ignore[assignment]  # stubs: an instance
MAX_BLOCK = 1 << 16  # a block's compressed size is at most 64 KiB
READ_AHEAD = 4 << 20  # bytes read at once when inflating blocks in turn


@dataclass(frozen=True)
class Piece:
    """The lines whose first byte lies in the blocks at compressed offsets [start, end);
    the first `skip` bytes of text from `start` belong to the piece before (or the header)."""

    start: int
    end: int
    skip: int


class Bgzf:
    """A BGZF file open for reading: its blocks, header and pieces of text."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = os.fstat(fd).st_size

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[Bgzf]:
        fd = os.open(path, os.O_RDONLY)
        try:
            yield cls(path, fd)
        finally:
            os.close(fd)

    def read(self, at: int, size: int) -> bytes:
        return os.pread(self.fd, max(0, min(size, self.size - at)), at)

    def is_bgzf(self) -> bool:
        """Whether the file starts with a BGZF block (bgzip's output, not gzip or text)."""
        return self.block_size(0) is not None

    def ends_with_eof_marker(self) -> bool:
        """Whether the file ends as every BGZF writer ends it (else it may be truncated)."""
        if self.size < len(EOF_MARKER):
            return False
        return self.read(self.size - len(EOF_MARKER), len(EOF_MARKER)) == EOF_MARKER

    def block_size(self, at: int, head: bytes | memoryview | None = None) -> int | None:
        """The size of the block starting at `at` (whose first bytes `head` may hold), or
        None if none starts there."""
        head = head if head is not None and len(head) >= 18 else self.read(at, 18)
        if head[:4] != MAGIC or len(head) < 12:
            return None
        extra = 12
        end = extra + int.from_bytes(head[10:12], "little")
        if end > len(head):
            head = self.read(at, end)
        while extra + 4 <= min(end, len(head)):  # subfields SI1 SI2 SLEN; BGZF's: 'BC', 2
            length = int.from_bytes(head[extra + 2 : extra + 4], "little")
            if head[extra : extra + 2] == b"BC" and length == 2 and extra + 6 <= len(head):
                size = int.from_bytes(head[extra + 4 : extra + 6], "little") + 1
                return size if at + size <= self.size else None
            extra += 4 + length
        return None

    def _is_block(self, at: int) -> bool:
        """A block starts at `at` and ends where another starts or at the end of the file (a
        header-shaped run of bytes inside compressed data is not taken for a block)."""
        size = self.block_size(at)
        return size is not None and (
            at + size == self.size or self.block_size(at + size) is not None
        )

    def block_at_or_after(self, at: int) -> int:
        """The offset of the first block at or after `at` (the file's size if none)."""
        while at < self.size:
            chunk = self.read(at, READ_AHEAD)
            found = chunk.find(MAGIC)
            while found >= 0:
                if self._is_block(at + found):
                    return at + found
                found = chunk.find(MAGIC, found + 1)
            at += max(1, len(chunk) - len(MAGIC) + 1)  # a header across the chunk's end
        return self.size

    def block_before(self, at: int) -> int:
        """The offset of the block that ends at `at`."""
        start = max(0, at - MAX_BLOCK)
        window = self.read(start, at - start)
        end = len(window)
        while (found := window.rfind(MAGIC, 0, end)) >= 0:
            if self.block_size(start + found) == at - start - found:
                return start + found
            end = found
        raise MedfollowError(f"{self.path.name}: no BGZF block ends at byte {at:,}")

    def inflate(self, at: int, data: memoryview | None = None) -> tuple[bytes, int]:
        """The text of the block at `at` (`data`: the file's bytes from `at`, if read
        already), and the offset of the next block."""
        size = self.block_size(at, data)
        try:
            if size is None:
                raise ValueError("no BGZF block header")
            block = data[:size] if data is not None and len(data) >= size else self.read(at, size)
            return isal_zlib.decompress(block, GZIP_WBITS), at + size
        except (ValueError, INFLATE_ERROR) as exc:
            raise MedfollowError(
                f"{self.path.name}: corrupt BGZF block at byte {at:,} ({exc})"
            ) from None

    def blocks(self, at: int) -> Iterator[tuple[int, bytes]]:
        """(offset, text) of each block from `at` on, read ahead in large runs."""
        data, data_at = memoryview(b""), at
        while at < self.size:
            if at - data_at + MAX_BLOCK > len(data) and data_at + len(data) < self.size:
                data, data_at = memoryview(self.read(at, READ_AHEAD)), at
            text, after = self.inflate(at, data[at - data_at :] or None)
            yield at, text
            at = after

    def header(self) -> tuple[bytes, int, int]:
        """The header text (up to and with the #CHROM line), and where the first record's
        line starts: the offset of its block (the file's size if there is none) and how many
        bytes of that block's text come before it."""
        text, start = bytearray(), 0
        for at, block in self.blocks(0):
            before = len(text)
            text += block
            while text.startswith(b"#", start) and (newline := text.find(b"\n", start)) >= 0:
                chrom_line = text.startswith(b"#CHROM", start)
                start = newline + 1
                if chrom_line:
                    return bytes(text[:start]), *self._body_start(at, before, len(text), start)
            if start < len(text) and not text.startswith(b"#", start):
                return bytes(text[:start]), at, start - before
        return bytes(text), self.size, 0

    def _body_start(self, at: int, before: int, length: int, start: int) -> tuple[int, int]:
        """Where the record after a header ending at text offset `start` lies, given that the
        block at `at` holds the text [before, length)."""
        if start < length:
            return at, start - before
        for after, block in self.blocks(at):  # the header ends with the block: the next one
            if after > at and block:
                return after, 0
        return self.size, 0

    def skip_at(self, cut: int) -> int:
        """How many bytes of text from the block at `cut` end a line begun before it."""
        at = cut
        while at > 0:  # the last byte before the cut, in the nearest block holding text
            at = self.block_before(at)
            text, _ = self.inflate(at)
            if text:
                if text.endswith(b"\n"):
                    return 0
                break
        skip = 0
        for _, text in self.blocks(cut):
            newline = text.find(b"\n")
            if newline >= 0:
                return skip + newline + 1
            skip += len(text)
        return skip

    def text(self, piece: Piece) -> Iterator[bytes]:
        """The text of the piece's lines, a block at a time."""
        skip, last = piece.skip, b""
        for at, whole in self.blocks(piece.start):
            if at >= piece.end:
                if not last or last == b"\n":
                    return
                newline = whole.find(b"\n")  # finish the last line in the blocks after
                if newline >= 0:
                    yield whole[: newline + 1]
                    return
                yield whole
                continue
            if skip >= len(whole):
                skip -= len(whole)
                continue
            text, skip = whole[skip:], 0
            last = text[-1:]
            yield text
