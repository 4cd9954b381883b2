"""A release's parts written by Spark's executors (release.write_part on each), so that a
release of the country's 650 M variants is computed and written in parallel and nothing of
it passes through the driver: the driver hands out part numbers and chunk lists, and gets
back each part's row count. The counts (stored chunks, or stored chunks less the genomes a
release leaves out) go to the executors once, as a broadcast; each executor reads the chunk
files of its part from the store's shared storage and writes its part beside the release
being written, where the driver then joins the parts' served shares.

The broadcast of counts less some genomes holds those genomes' genotype codes (no ids), and
pyspark keeps a broadcast pickled in the driver's Spark temporary folder: it is destroyed
as soon as the parts are written, whatever happens, which deletes that file and the
executors' copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from genomics_variants.contributions.chunks import ChunkedCounts
from medfollow_core.errors import MedfollowError


def write_parts_on_spark(
    spark: Any, folder: Path, counts: ChunkedCounts, plan: Sequence[Sequence[int]], block_rows: int
) -> list[int]:
    """Write the parts of `plan` (each a list of chunks) into `folder` on the executors, one
    task per part; returns each part's rows. A part that cannot be written is refused in
    one line naming the error, not with Spark's stack trace."""
    from genomics_variants.frequencies.release import write_part

    context = spark.sparkContext
    shared = context.broadcast(counts)
    target = str(folder)
    tasks = [(number, [int(c) for c in chunks]) for number, chunks in enumerate(plan)]

    def write(given: Iterator[tuple[int, list[int]]]) -> Iterator[tuple[int, int, str | None]]:
        for number, chunks in given:
            try:
                yield (
                    number,
                    write_part(Path(target), number, shared.value, chunks, block_rows),
                    None,
                )
            except MedfollowError as exc:
                yield number, 0, str(exc)
            except Exception as exc:  # a full disk, storage the executor cannot see
                text = " ".join(str(exc).split())
                yield number, 0, f"part {number} of the release: {type(exc).__name__}: {text}"

    try:
        # one task per part (parallelize cuts the list evenly; a DataFrame's round-robin
        # repartition may give one task two parts and another none)
        done = context.parallelize(tasks, len(tasks)).mapPartitions(write).collect()
    finally:
        shared.destroy()
    errors = [error for _, _, error in done if error is not None]
    if errors:
        raise MedfollowError(errors[0])
    rows = {number: count for number, count, _ in done}
    return [rows[number] for number in range(len(tasks))]
