"""Stream a delivered file as Arrow record batches, whatever format it came in.

Danish registry CSVs are ``;``-separated, UTF-8, Latin-1 or cp1252, with decimal commas;
extracts also come as Parquet and SAS datasets. Every reader yields record batches of bounded
size so a ten-million-row extract never exists as Python objects. CSV values are read as
strings: typing is the contract's job (``convert``), where a bad value becomes a quarantined
row instead of a crashed file. A file's bytes decide nothing silently: a CSV is read in its
declared encoding only if its bytes bear that out, and files are only opened as regular files
(``open_regular``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medfollow_core.errors import MedfollowError
from medfollow_core.landing.delivered import open_regular

BATCH_ROWS = 500_000
"""Rows per batch: the loader's unit of work (``pipeline``), each typed, validated by one
Great Expectations run and COPYed while the next is prepared. Smaller batches get the
server going sooner (it idles while the first is prepared, and the client's work per row
is close to the server's); larger ones pay GX's fixed cost per run (~20 ms) fewer times.
In the LPR3 benchmark half a million rows left the server idle least (a million: about
0.15 s more before and between the first batches)."""
_CSV_BLOCK_BYTES = 8 << 20
"""What Arrow parses at a time; `_rebatch` joins blocks into batches of `BATCH_ROWS`. With
32 MiB blocks and Arrow's threads the first batch of 10 M LPR3 rows took 0.3-1.0 s, with
8 MiB in one thread 0.04 s, and the whole file no longer (a row must fit in a block: 8 MiB
is ample for registry rows)."""


ENCODINGS = {"utf-8": "utf-8", "cp1252": "cp1252", "iso8859-1": "latin-1"}
"""The encodings a CSV may declare (Python's canonical codec name → the name we use)."""

_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_C1 = re.compile(rb"[\x80-\x9f]")
_NOT_C1 = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
_MAX_HEADER_BYTES = 1 << 20
_QUOTED_ROW = re.compile(r"(got \d+)\s*:.*")


@dataclass
class _Bytes:
    """What one pass over a file tells about its encoding (offsets are absolute)."""

    utf8_error: int | None = None  # first byte that breaks UTF-8
    multibyte: bool = False  # holds at least one well-formed non-ASCII UTF-8 character
    c1: tuple[int, int] | None = None  # (offset, byte) of the first byte 0x80-0x9F
    undefined: tuple[int, int] | None = None  # (offset, byte) of the first one cp1252 lacks


def detect_encoding(path: Path, declared: str | None = "auto") -> str:
    """The encoding to read a CSV with: the declared one if the bytes bear it out, else the
    one the bytes show; refused (one line: file, byte offset, what to do) otherwise.

    Latin-1 decodes any byte sequence, so detection rests on UTF-8 validity over the whole
    file, streamed. A file that is UTF-8 except for a stray byte is refused rather than read
    as Latin-1 (which would turn every æøå in it into mojibake). A single-byte file holding
    bytes 0x80-0x9F is cp1252 (there they are € – “ ”; in Latin-1 control characters). NUL
    bytes mean the file is not text at all (UTF-16, a zip, a SAS file with the wrong name).
    """
    wanted = _canonical(declared or "auto")
    found = _scan(path)
    name = path.name
    if wanted == "utf-8" or (wanted == "auto" and found.multibyte):
        if found.utf8_error is not None:
            rest = "declared UTF-8" if wanted == "utf-8" else "the rest of it is UTF-8"
            raise MedfollowError(
                f"{name}: not valid UTF-8 at byte offset {found.utf8_error} ({rest}); fix that "
                "byte or re-export the file as UTF-8"
            )
        return "utf-8"
    if wanted == "auto" and found.utf8_error is None:
        return "utf-8"  # plain ASCII
    if found.multibyte:
        raise MedfollowError(
            f"{name}: declared {wanted} but its non-ASCII bytes form UTF-8 characters; declare "
            "utf-8 in the manifest (and fix any byte that is not UTF-8)"
        )
    if wanted == "latin-1" and found.c1 is not None:
        offset, byte = found.c1
        raise MedfollowError(
            f"{name}: byte 0x{byte:02X} at offset {offset} is a control character in Latin-1; "
            "if the file is cp1252 (€ – “ ”), declare cp1252 in the manifest"
        )
    if wanted != "latin-1" and found.undefined is not None:
        offset, byte = found.undefined
        raise MedfollowError(
            f"{name}: byte 0x{byte:02X} at offset {offset} is no character in cp1252 (and a "
            "control in Latin-1); re-export the file as UTF-8"
        )
    if wanted == "auto":
        return "cp1252" if found.c1 is not None else "latin-1"
    return wanted


def _canonical(declared: str) -> str:
    """``auto`` or a supported encoding's name, whatever spelling the sender used."""
    if declared == "auto":
        return declared
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        codec = ""
    if codec not in ENCODINGS:
        raise MedfollowError(
            f"encoding {declared[:40]!r} is not supported; deliver UTF-8, cp1252 or Latin-1"
        )
    return ENCODINGS[codec]


def _scan(path: Path, block_bytes: int = 1 << 20) -> _Bytes:
    """One streamed pass: UTF-8 validity, non-ASCII characters, C1 and undefined bytes.

    Until the first byte that breaks UTF-8 only the (fast) decoder runs: a file that is not
    UTF-8 yet held non-ASCII characters before that byte is refused whatever else it holds,
    and one that held none has no byte 0x80-0x9F there either.
    """
    found = _Bytes()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open_regular(path) as fh:
        while block := fh.read(block_bytes):
            if b"\x00" in block:
                raise MedfollowError(f"{path.name}: not a text file (NUL bytes; wrong encoding?)")
            if found.utf8_error is None:
                pending = decoder.getstate()[0]
                try:
                    found.multibyte |= not decoder.decode(block).isascii()
                except UnicodeDecodeError as exc:
                    found.utf8_error = offset - len(pending) + exc.start
                    found.multibyte |= not (pending + block)[: exc.start].isascii()
            if found.utf8_error is not None:
                _scan_single_byte(found, block, offset)
            offset += len(block)
    if found.utf8_error is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            found.utf8_error = offset - len(decoder.getstate()[0])
    return found


def _scan_single_byte(found: _Bytes, block: bytes, offset: int) -> None:
    """The checks that matter once a file is not UTF-8: any UTF-8 characters (a stray byte
    in a UTF-8 file), and the first C1 and cp1252-undefined bytes."""
    if not found.multibyte:
        found.multibyte = not block.decode("utf-8", errors="ignore").isascii()
    if found.c1 is None and block.translate(None, delete=_NOT_C1):
        found.c1 = _first(_C1, block, offset)
    if found.undefined is None and found.c1 is not None:
        found.undefined = _first(_CP1252_UNDEFINED, block, offset)


def _first(pattern: re.Pattern[bytes], block: bytes, offset: int) -> tuple[int, int] | None:
    """(absolute offset, byte) of ``pattern``'s first match in ``block``, if any."""
    hit = pattern.search(block)
    return (offset + hit.start(), block[hit.start()]) if hit else None


def read_header(path: Path, encoding: str) -> list[str]:
    with open_regular(path) as fh:
        first = fh.readline(_MAX_HEADER_BYTES)
    text = first.decode(encoding).rstrip("\r\n").lstrip("\ufeff")
    return [name.strip().strip('"') for name in text.split(";")]


def csv_batches(
    path: Path, encoding: str, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Batches of all-string columns from a Danish CSV (empty field = null)."""
    header = read_header(path, encoding)
    with open_regular(path) as fh:
        yield from _rebatch(_checked(_open_csv(fh, encoding, header), path), batch_rows)


def _open_csv(fh: BinaryIO, encoding: str, header: list[str]) -> Iterator[pa.RecordBatch]:
    """Arrow parses the first block when opening, so errors can surface here already."""
    reader = pacsv.open_csv(
        fh,
        # One thread: the loader already reads in a worker of its own beside the server's
        # COPY (``prefetch``), and on two cores Arrow's parsing threads only take CPU from
        # those two; read ahead in parallel they made the file no faster to read.
        read_options=pacsv.ReadOptions(
            encoding=encoding,
            block_size=_CSV_BLOCK_BYTES,
            column_names=header,
            skip_rows=1,
            use_threads=False,
        ),
        parse_options=pacsv.ParseOptions(delimiter=";", newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    yield from reader


def parquet_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    with open_regular(path) as fh:
        yield from _checked(_parquet(fh, path).iter_batches(batch_size=batch_rows), path)


def _parquet(fh: BinaryIO, path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(fh)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MedfollowError(f"{path.name}: unreadable Parquet ({_first_line(exc)})") from None


def sas_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """SAS7BDAT or XPORT via pyreadstat, chunk by chunk."""
    import pyreadstat

    try:
        for frame, _meta in pyreadstat.read_file_in_chunks(
            _sas_reader(path), str(path), chunksize=batch_rows
        ):
            yield pa.RecordBatch.from_pandas(frame, preserve_index=False)
    except (pyreadstat.ReadstatError, pa.ArrowException, ValueError) as exc:
        raise MedfollowError(
            f"{path.name}: unreadable SAS dataset ({type(exc).__name__})"
        ) from None


def file_format(path: Path) -> str:
    """csv, parquet or sas, from the file's extension."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".sas7bdat", ".xpt"):
        return "sas"
    raise MedfollowError(f"{path.name}: unsupported file type {suffix or '(none)'}")


def batches(
    path: Path, encoding: str | None = "auto", batch_rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream ``path`` in batches; the extension decides the reader (and SAS flavour)."""
    batch_rows = batch_rows or BATCH_ROWS
    fmt = file_format(path)
    if fmt == "csv":
        return csv_batches(path, detect_encoding(path, encoding), batch_rows)
    if fmt == "parquet":
        return parquet_batches(path, batch_rows)
    return sas_batches(path, batch_rows)


def fields_of(path: Path, encoding: str | None = "auto") -> list[pa.Field]:
    """The columns a file declares with their Arrow types, read without scanning its rows
    (a CSV's are all text; a SAS dataset's text or double)."""
    try:
        return _fields_of(path, encoding)
    except MedfollowError:
        raise
    except Exception as exc:
        raise MedfollowError(f"{path.name}: unreadable ({type(exc).__name__})") from None


def _fields_of(path: Path, encoding: str | None) -> list[pa.Field]:
    fmt = file_format(path)
    if fmt == "csv":
        header = read_header(path, detect_encoding(path, encoding))
        return [pa.field(name, pa.string()) for name in header]
    if fmt == "parquet":
        with open_regular(path) as fh:
            return list(_parquet(fh, path).schema_arrow)
    _, meta = _sas_reader(path)(str(path), metadataonly=True)
    kinds = meta.readstat_variable_types
    return [
        pa.field(name, pa.string() if kinds.get(name) == "string" else pa.float64())
        for name in meta.column_names
    ]


def _sas_reader(path: Path) -> Any:
    """pyreadstat's reader for the file's SAS flavour (sas7bdat or XPORT)."""
    import pyreadstat

    return pyreadstat.read_sas7bdat if path.suffix.lower() == ".sas7bdat" else pyreadstat.read_xport


def _checked(batches: Iterator[pa.RecordBatch], path: Path) -> Iterator[pa.RecordBatch]:
    """Turn Arrow's parse errors (ragged or truncated rows) into one-line refusals."""
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError) as exc:
        raise MedfollowError(f"{path.name}: malformed or truncated ({_first_line(exc)})") from None


def _rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Regroup Arrow's block-sized batches into batches of ``rows`` rows (the last fewer),
    the first ones smaller (`_RAMP`).

    Exact sizes, not "at least": a loader's first batch is ready as soon as its rows are
    parsed, and no batch is larger than the loader was tuned for.
    """
    pending: list[pa.RecordBatch] = []
    count = 0
    sizes = _ramp(rows)
    size = next(sizes)
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            joined = _joined(pending)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            pending, count = ([rest] if rest.num_rows else []), rest.num_rows
            size = next(sizes)
    if pending:
        yield _joined(pending)


_RAMP = 8
"""The first batch holds 1/`_RAMP` of ``rows``, each next one twice as many up to ``rows``.
The server idles until the first batch is typed, validated and rendered (0.28 s for half a
million LPR3 rows); an eighth of that starts it 0.25 s sooner, for three more GX runs
(~20 ms each) done while the server COPYs."""


def _ramp(rows: int) -> Iterator[int]:
    """Batch sizes: ``rows``/`_RAMP`, doubling, then ``rows`` for ever."""
    size = max(1, rows // _RAMP)
    while size < rows:
        yield size
        size *= 2
    while True:
        yield rows


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One record batch of ``batches`` (no copy if there is only one)."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _first_line(exc: BaseException) -> str:
    """The first line of a parser's message, without the row it quotes (Arrow ends a ragged
    row's message with the row itself: names, numbers, anything)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _QUOTED_ROW.sub(r"\1", line)[:200]
