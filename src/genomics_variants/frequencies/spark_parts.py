"""A release's parts written by Spark's executors (release.write_part on each), so that a
release of the country's 650 M variants is computed and written in parallel and nothing of
it passes through the driver: the driver hands out part numbers and chunk lists, and gets
back each part's row count. The counts (stored chunks, or stored chunks less the genomes a
release leaves out) go to the executors once, as a broadcast; each executor reads the chunk
files of its part from the store's shared storage and writes its part beside the release
being written, where the driver then joins the parts' served shares."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from genomics_variants.contributions.chunks import ChunkedCounts
from medfollow_core.errors import MedfollowError

RESULT = pa.schema([("part", pa.int32()), ("rows", pa.int64()), ("error", pa.string())])


def write_parts_on_spark(
    spark: Any, folder: Path, counts: ChunkedCounts, plan: Sequence[Sequence[int]], block_rows: int
) -> list[int]:
    """Write the parts of `plan` (each a list of chunks) into `folder` on the executors, one
    task per part; returns each part's rows. A part that cannot be written is refused in
    one line (the executor's MedfollowError), not as Spark's stack trace."""
    from genomics_variants.frequencies.release import write_part

    shared = spark.sparkContext.broadcast(counts)
    target = str(folder)
    tasks = [(number, [int(c) for c in chunks]) for number, chunks in enumerate(plan)]
    frame = spark.createDataFrame(tasks, "part int, chunks array<long>").repartition(len(tasks))

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for task in batch.to_pylist():
                row: dict[str, Any] = {"part": task["part"], "rows": 0, "error": None}
                try:
                    row["rows"] = write_part(
                        Path(target), task["part"], shared.value, task["chunks"], block_rows
                    )
                except MedfollowError as exc:
                    row["error"] = str(exc)
                yield pa.RecordBatch.from_pylist([row], schema=RESULT)

    result = frame.mapInArrow(write, "part int, rows long, error string").toArrow()
    shared.unpersist()
    errors = [e for e in result.column("error").to_pylist() if e is not None]
    if errors:
        raise MedfollowError(errors[0])
    rows = dict(
        zip(result.column("part").to_pylist(), result.column("rows").to_pylist(), strict=True)
    )
    return [int(rows[number]) for number in range(len(tasks))]
