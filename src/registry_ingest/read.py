"""Stream a delivered file as Arrow record batches, whatever format it came in.

Danish registry CSVs are ``;``-separated, Latin-1 or UTF-8, with decimal commas; extracts
also come as Parquet and SAS datasets. Every reader yields record batches of bounded size so
a ten-million-row extract never exists as Python objects. CSV values are read as strings:
typing is the contract's job (``convert``), where a bad value becomes a quarantined row
instead of a crashed file.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medfollow_core.errors import MedfollowError

BATCH_ROWS = 1_000_000
_CSV_BLOCK_BYTES = 32 << 20


def detect_encoding(path: Path, declared: str = "auto") -> str:
    """UTF-8 if the whole file decodes as UTF-8, else Latin-1; refuse binary content.

    Latin-1 decodes any byte sequence, so the only honest test is UTF-8 validity over the
    whole file (streamed: an incremental decoder, 1 MiB at a time). NUL bytes mean the file
    is not text at all (UTF-16, a zip, a SAS file with the wrong name): refused.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            if b"\x00" in block:
                raise MedfollowError(f"{path.name}: not a text file (NUL bytes; wrong encoding?)")
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    found = "utf-8" if utf8 else "latin-1"
    if declared not in ("auto", found) and not (declared == "latin-1" and found == "utf-8"):
        raise MedfollowError(
            f"{path.name}: declared {declared} but the file is not valid {declared}"
        )
    return found


def read_header(path: Path, encoding: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as fh:
        first = fh.readline().rstrip("\r\n").lstrip("\ufeff")
    return [name.strip().strip('"') for name in first.split(";")]


def csv_batches(
    path: Path, encoding: str, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Batches of all-string columns from a Danish CSV (empty field = null)."""
    header = read_header(path, encoding)
    yield from _rebatch(_checked(_open_csv(path, encoding, header), path), batch_rows)


def _open_csv(path: Path, encoding: str, header: list[str]) -> Iterator[pa.RecordBatch]:
    """Arrow parses the first block when opening, so errors can surface here already."""
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding=encoding, block_size=_CSV_BLOCK_BYTES, column_names=header, skip_rows=1
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
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MedfollowError(f"{path.name}: unreadable Parquet ({_first_line(exc)})") from None
    yield from _checked(parquet.iter_batches(batch_size=batch_rows), path)


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
    path: Path, encoding: str = "auto", batch_rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream ``path`` in batches; the extension decides the reader (and SAS flavour)."""
    batch_rows = batch_rows or BATCH_ROWS
    fmt = file_format(path)
    if fmt == "csv":
        return csv_batches(path, detect_encoding(path, encoding), batch_rows)
    if fmt == "parquet":
        return parquet_batches(path, batch_rows)
    return sas_batches(path, batch_rows)


def columns_of(path: Path, encoding: str = "auto") -> list[str]:
    """The column names a file declares, read without scanning its rows."""
    try:
        return _columns_of(path, encoding)
    except MedfollowError:
        raise
    except Exception as exc:
        raise MedfollowError(f"{path.name}: unreadable ({type(exc).__name__})") from None


def _columns_of(path: Path, encoding: str) -> list[str]:
    fmt = file_format(path)
    if fmt == "csv":
        return read_header(path, detect_encoding(path, encoding))
    if fmt == "parquet":
        return pq.read_schema(path).names
    _, meta = _sas_reader(path)(str(path), metadataonly=True)
    return list(meta.column_names)


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
    """Regroup Arrow's block-sized batches into batches of about ``rows`` rows."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()
            pending, count = [], 0
    if pending:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
