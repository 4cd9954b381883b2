"""Cutting a bgzipped VCF at blocks: every line is read once, by exactly one piece, wherever
the cuts fall (inside a line, at a line's end, inside a line longer than several blocks),
and a damaged block is refused in one line."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pysam
import pytest
from pysam.libcbgzf import BGZFile

from genomics_variants.vcf.bgzf import Bgzf, Piece
from genomics_variants.vcf.partition import partition
from genomics_variants.vcf.transcode import bcf_pieces
from medfollow_core.errors import MedfollowError

HEADER = b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000000>\n#CHROM\tPOS\tID\tREF\tALT\n"


def bgzf_block(text: bytes) -> bytes:
    """One BGZF block holding `text` (an empty one is the end-of-file marker)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(text) + compressor.flush()
    size = 18 + len(deflated) + 8
    head = b"\x1f\x8b\x08\x04" + b"\0" * 4 + b"\0\xff" + struct.pack("<H", 6)
    extra = b"BC" + struct.pack("<HH", 2, size - 1)
    return head + extra + deflated + struct.pack("<II", zlib.crc32(text), len(text))


def write_blocks(path: Path, chunks: list[bytes]) -> Path:
    path.write_bytes(b"".join(bgzf_block(c) for c in chunks) + bgzf_block(b""))
    return path


def lines(count: int, width: int) -> bytes:
    return b"".join(b"chr1\t%d\t.\tA\t%s\n" % (i + 1, b"C" * (width + i % 7)) for i in range(count))


def is_bgzf(path: Path) -> bool:
    with Bgzf.open(path) as bgzf:
        return bgzf.is_bgzf()


def read_back(path: Path, parts: int, max_piece_bytes: int) -> bytes:
    groups = partition(path, parts, max_piece_bytes)
    assert groups is not None
    with Bgzf.open(path) as bgzf:
        return b"".join(b"".join(bgzf.text(p)) for group in groups for p in group)


@pytest.mark.parametrize("block", [7, 50, 333, 4096])
@pytest.mark.parametrize("width", [3, 900])
def test_every_line_is_read_once_wherever_the_cuts_fall(
    tmp_path: Path, block: int, width: int
) -> None:
    body = lines(60, width)
    text = HEADER + body
    path = write_blocks(
        tmp_path / "x.vcf.gz", [text[i : i + block] for i in range(0, len(text), block)]
    )
    for parts in (1, 2, 3, 5):
        for bound in (64, 500, 5_000, 1 << 26):
            assert read_back(path, parts, bound) == body, (parts, bound)


def test_blocks_ending_at_line_ends_and_empty_blocks(tmp_path: Path) -> None:
    body = lines(40, 10)
    rows = body.splitlines(keepends=True)
    chunks = [HEADER] + [b"".join(rows[i : i + 3]) for i in range(0, len(rows), 3)]
    chunks = [c for chunk in chunks for c in (chunk, b"")]  # an empty block after each
    path = write_blocks(tmp_path / "x.vcf.gz", chunks)
    for parts in (1, 2, 4, 7):
        assert read_back(path, parts, 80) == body


def test_a_file_without_a_final_newline_keeps_its_last_line(tmp_path: Path) -> None:
    body = lines(20, 5).rstrip(b"\n")
    text = HEADER + body
    path = write_blocks(tmp_path / "x.vcf.gz", [text[i : i + 40] for i in range(0, len(text), 40)])
    for parts in (1, 3):
        assert read_back(path, parts, 100) == body


def test_bgzip_output_is_cut_into_balanced_groups(tmp_path: Path) -> None:
    path = tmp_path / "x.vcf.gz"
    body = lines(20_000, 40)
    with BGZFile(str(path), "wb") as out:
        out.write(HEADER + body)
    groups = partition(path, 3, 1 << 26)
    assert groups is not None and len(groups) == 3
    sizes = [sum(p.end - p.start for p in g) for g in groups]
    assert max(sizes) - min(sizes) <= 2 * (1 << 16)  # a block or so apart
    assert read_back(path, 3, 1 << 26) == body
    with Bgzf.open(path) as bgzf:
        assert bgzf.header()[0] == HEADER


def test_what_is_not_a_bgzipped_vcf_is_read_whole(tmp_path: Path) -> None:
    plain = tmp_path / "plain.vcf"
    plain.write_bytes(HEADER + lines(5, 3))
    gz = tmp_path / "plain.vcf.gz"
    gz.write_bytes(gzip.compress(HEADER + lines(5, 3)))
    empty = write_blocks(tmp_path / "header-only.vcf.gz", [HEADER])
    nothing = tmp_path / "empty.vcf.gz"
    nothing.write_bytes(b"")
    assert not any(is_bgzf(path) for path in (plain, gz, nothing))
    for path in (plain, gz, empty, nothing):
        assert partition(path, 2, 1 << 20) is None


def test_header_shaped_bytes_inside_a_block_are_not_taken_for_one(tmp_path: Path) -> None:
    """A stored block can hold any bytes, including a block header's; a cut must not start
    there (it is not followed by a block)."""
    fake = bgzf_block(b"x")[:18]
    path = tmp_path / "x.vcf.gz"
    stored = zlib.compressobj(0, zlib.DEFLATED, -15)
    payload = b"chr1\t1\t.\tA\tC\t" + fake + b"\n"
    deflated = stored.compress(payload) + stored.flush()
    size = 18 + len(deflated) + 8
    block = (
        b"\x1f\x8b\x08\x04"
        + b"\0" * 4
        + b"\0\xff"
        + struct.pack("<H", 6)
        + b"BC"
        + struct.pack("<HH", 2, size - 1)
        + deflated
        + struct.pack("<II", zlib.crc32(payload), len(payload))
    )
    path.write_bytes(bgzf_block(HEADER) + block + bgzf_block(lines(3, 2)) + bgzf_block(b""))
    with Bgzf.open(path) as bgzf:
        inside = path.read_bytes().index(fake)
        assert bgzf.block_at_or_after(inside) == len(bgzf_block(HEADER)) + len(block)
    assert read_back(path, 4, 10) == payload + lines(3, 2)


def test_a_damaged_block_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_blocks(tmp_path / "x.vcf.gz", [HEADER, lines(10, 5), lines(10, 5)])
    data = bytearray(path.read_bytes())
    data[len(bgzf_block(HEADER)) + 30] ^= 0xFF  # inside the second block's deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(MedfollowError) as exc:
        read_back(path, 2, 1 << 20)
    assert "x.vcf.gz: corrupt BGZF block at byte" in str(exc.value)
    assert "\n" not in str(exc.value)


VCF_HEADER = (
    b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000000>\n"
    b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
)


def small_vcf(path: Path, records: int = 200, block: int = 97) -> Path:
    body = b"".join(b"chr1\t%d\t.\tA\tC\t.\t.\t.\tGT\t0/1\n" % (i + 1) for i in range(records))
    text = VCF_HEADER + body
    return write_blocks(path, [text[i : i + block] for i in range(0, len(text), block)])


def transcoded_records(path: Path, max_piece_bytes: int) -> int:
    groups = partition(path, 1, max_piece_bytes)
    assert groups is not None
    count = 0
    with bcf_pieces(path, groups[0], ["s1"]) as files:
        for bcf in files:
            with pysam.VariantFile(str(bcf)) as records:
                count += sum(1 for _ in records)
    return count


def test_pieces_reach_htslib_whole(tmp_path: Path) -> None:
    path = small_vcf(tmp_path / "x.vcf.gz")
    assert transcoded_records(path, 1 << 20) == transcoded_records(path, 300) == 200


def test_a_file_without_its_end_of_file_marker_is_refused(tmp_path: Path) -> None:
    """A writer killed between blocks leaves whole lines only: without the marker check the
    lost records would go unnoticed."""
    path = small_vcf(tmp_path / "x.vcf.gz")
    path.write_bytes(path.read_bytes()[: -len(bgzf_block(b""))])
    with pytest.raises(MedfollowError) as exc:
        partition(path, 2, 1 << 20)
    assert str(exc.value) == (
        "x.vcf.gz: no BGZF end-of-file marker: the file is truncated or incomplete"
    )


def test_a_corrupt_block_inside_a_piece_is_named(tmp_path: Path) -> None:
    path = small_vcf(tmp_path / "x.vcf.gz")
    groups = partition(path, 1, 1 << 20)
    data = bytearray(path.read_bytes())
    with Bgzf.open(path) as bgzf:
        middle = bgzf.block_at_or_after(len(data) // 2)
    data[middle + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    assert groups is not None
    with pytest.raises(MedfollowError) as exc, bcf_pieces(path, groups[0], ["s1"]) as files:
        list(files)
    assert f"x.vcf.gz: corrupt BGZF block at byte {middle:,}" in str(exc.value)


def test_whatever_stops_the_feeding_thread_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """htslib sees the pipe close as a clean end of file: a piece cut short by an unforeseen
    error in the thread must not be taken for whole."""
    path = small_vcf(tmp_path / "x.vcf.gz")
    groups = partition(path, 1, 1 << 20)
    real = Bgzf.text

    def failing(self: Bgzf, piece: Piece) -> Iterator[bytes]:
        for number, text in enumerate(real(self, piece)):
            if number == 5:
                raise MemoryError("out of memory")
            yield text

    monkeypatch.setattr(Bgzf, "text", failing)
    assert groups is not None
    with pytest.raises(MemoryError), bcf_pieces(path, groups[0], ["s1"]) as files:
        list(files)
