"""Arrow → PostgreSQL by COPY: the one way rows reach the warehouse in bulk.

Arrow renders the table as CSV in C++ and psycopg streams it, so no row ever becomes a
Python tuple. Registry ingest, linkage and the variant releases all load this way.
Rendering and sending are also offered apart (`render_csv`, `copy_csv`): a loader that
renders in a worker thread keeps the server parsing one batch while the next is rendered,
instead of leaving it idle for every batch's rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

_PIECE_BYTES = 1 << 20
"""About how much Arrow data `render_csv` renders into one buffer."""

_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=1 << 16)
"""CSV as COPY reads it, 64 Ki rows formatted at a time (Arrow's default, 1 Ki, is 25 % slower)."""


def copy_table(
    conn: psycopg.Connection, target: sql.Composable, data: pa.Table, *, freeze: bool = False
) -> int:
    """COPY an Arrow table whose column names match the target's columns; returns the rows.

    ``freeze`` writes the rows already frozen (no hint-bit or freeze pass by later reads and
    vacuums); PostgreSQL allows it only into a table created or truncated in the current
    transaction.
    """
    if data.num_rows == 0:
        return 0
    copy_csv(conn, target, data.column_names, render_csv(data), freeze=freeze)
    return data.num_rows


def render_csv(data: pa.Table) -> list[pa.Buffer]:
    """The table's rows as the CSV `copy_csv` sends (no header), in pieces of about a MiB.

    Each piece is written into an Arrow buffer, not a Python file object, so rendering never
    calls back into Python (20 % faster than into ``io.BytesIO``). Pieces rather than one
    buffer per table: a buffer for a million rows grows by doubling into fresh memory that
    the kernel must zero page by page, while pieces of a MiB reuse the allocator's memory
    (10 M LPR3 rows rendered in 0.5 s of CPU instead of 0.9 s).
    """
    if data.num_rows == 0:
        return []
    rows = max(1024, data.num_rows * _PIECE_BYTES // max(data.nbytes, 1))
    pieces = []
    for start in range(0, data.num_rows, rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(data.slice(start, rows), sink, _OPTIONS)
        pieces.append(sink.getvalue())
    return pieces


def copy_csv(
    conn: psycopg.Connection,
    target: sql.Composable,
    columns: list[str],
    pieces: Sequence[pa.Buffer],
    *,
    freeze: bool = False,
) -> None:
    """COPY CSV rendered by `render_csv` into ``target``'s ``columns`` (see `copy_table`)."""
    if not pieces:
        return
    statement = sql.SQL("copy {} ({}) from stdin (format csv{})").format(
        target,
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", freeze" if freeze else ""),
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for piece in pieces:
            copy.write(memoryview(piece))
