"""Arrow → PostgreSQL by COPY: the one way rows reach the warehouse in bulk.

Arrow renders the table as CSV in C++ and psycopg streams it in 8 MiB pieces, so no row ever
becomes a Python tuple. Registry ingest, linkage and the variant releases all load this way.
"""

from __future__ import annotations

import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

_PIECE = 8 << 20


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
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    statement = sql.SQL("copy {} ({}) from stdin (format csv{})").format(
        target,
        sql.SQL(", ").join(sql.Identifier(c) for c in data.column_names),
        sql.SQL(", freeze" if freeze else ""),
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        view = buffer.getbuffer()
        for start in range(0, len(view), _PIECE):
            copy.write(view[start : start + _PIECE])
    return data.num_rows
