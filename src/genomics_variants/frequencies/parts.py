"""One attempt at writing a part of a release table: its Parquet file and its share of the
served layout, under names of the attempt's own, renamed into place when both are done.

Spark may run two attempts at one task (speculation, a task re-run from an executor taken
for lost); with names of their own they never write into one file. A killed attempt leaves
only its own leftovers (hidden `.partial` names, removed when the release is finished), and
of two that finish, the first share renamed in stays: both hold the same bytes.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def part_attempt(
    folder: Path, table: str, shares: str, part_file: str, share: str
) -> Iterator[tuple[Path, Path]]:
    """(Parquet file, share folder) to write part `part_file` of `folder/table` and its
    share `folder/shares/share` into; renamed into place when the block ends normally."""
    target = folder / table
    target.mkdir(exist_ok=True)
    (folder / shares).mkdir(exist_ok=True)
    attempt = uuid.uuid4().hex
    parquet = target / f".{part_file}.{attempt}.partial"
    written = folder / shares / f".{share}.{attempt}.partial"
    yield parquet, written
    parquet.replace(target / part_file)
    try:
        written.rename(folder / shares / share)
    except OSError:  # another attempt's share is in place already
        shutil.rmtree(written, ignore_errors=True)
