"""A release's coverage table (coverage.py) worked out and written by Spark's executors: at
60,000 GQ-banded gVCFs its input is some 10^11 blocks, more than one process can hold.

Two steps, nothing of either passing through the driver: tasks read the genomes' blocks
files (a few genomes each) and cut the stretches where each genome is callable (its
QC-passing blocks, back-to-back GQ bands taken as one) into pieces at chunk edges
(`coverage.pieces`); Spark groups the pieces by chunk, and the executor that gets a chunk
writes the chunk's coverage part (`coverage.write_coverage_part`: its Parquet file and its
share of the served layout) and returns the part's row count. The driver gathers one row
per chunk (a few thousand for the genome) and joins the served shares (release.py).

The pieces hold each genome's cell (sex and region) and its blocks' extents, no genome id.
A task that cannot read a blocks file passes the error on as a piece of chunk ERROR, so the
driver refuses in one line naming it rather than with Spark's stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from genomics_variants.contributions.store import State, Store, read_blocks
from genomics_variants.frequencies.coverage import (
    PIECES_SCHEMA,
    block_batches,
    pieces,
    write_coverage_part,
)
from medfollow_core.errors import MedfollowError

ERROR = -1
"""The chunk of a piece that carries an error (its chrom) instead of a block."""
PIECES_DDL = "chunk long, chrom string, start long, end long, cell int, ploidy int"
PART_DDL = "chunk long, rows long, error string"
PART_SCHEMA = pa.schema([("chunk", pa.int64()), ("rows", pa.int64()), ("error", pa.string())])


def write_coverage_parts_on_spark(
    spark: Any, store: Store, state: State, folder: Path, block_rows: int
) -> list[int]:
    """coverage.write_coverage_parts, on the executors: every chunk's coverage part written
    into `folder` (on storage they share with the driver); returns the chunks written, in
    genome order."""
    batches = [(str(store.blocks_file(b)), cell) for b, cell in block_batches(state)]
    if not batches:
        return []
    bits, target = store.chunk_bits, str(folder)
    slices = min(len(batches), 4 * spark.sparkContext.defaultParallelism)
    genomes = spark.createDataFrame(batches, "path string, cell int").repartition(slices)

    def cut(given: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in given:
            for row in batch.to_pylist():
                try:
                    blocks = read_blocks(Path(row["path"]))
                except MedfollowError as exc:  # a file missing or damaged
                    yield _error_piece(str(exc))
                    continue
                yield from pieces(blocks, row["cell"], bits).to_batches()

    def write(key: tuple[Any, ...], chunk_pieces: pa.Table) -> pa.Table:
        chunk = int(key[0].as_py())
        if chunk == ERROR:
            message = chunk_pieces.column("chrom")[0].as_py()
            return _part_row(chunk, 0, f"the coverage table: {message}")
        try:
            rows = write_coverage_part(Path(target), chunk, chunk_pieces, block_rows)
        except Exception as exc:  # a full disk, storage the executor cannot see
            error = f"the coverage table, chunk {chunk}: {type(exc).__name__}: {exc}"
            return _part_row(chunk, 0, error)
        return _part_row(chunk, rows, None)

    done = genomes.mapInArrow(cut, PIECES_DDL).groupBy("chunk").applyInArrow(write, PART_DDL)
    result = done.toArrow()
    errors = [e for e in result.column("error").to_pylist() if e is not None]
    if errors:
        raise MedfollowError(errors[0])  # in one line (MedfollowError joins the lines)
    return sorted(result.column("chunk").to_pylist())


def _error_piece(message: str) -> pa.RecordBatch:
    values: dict[str, Any] = {"chunk": ERROR, "chrom": message, "start": 0, "end": 0}
    values |= {"cell": 0, "ploidy": 0}
    return pa.RecordBatch.from_pylist([values], schema=PIECES_SCHEMA)


def _part_row(chunk: int, rows: int, error: str | None) -> pa.Table:
    return pa.Table.from_pylist([{"chunk": chunk, "rows": rows, "error": error}], PART_SCHEMA)
