"""File-level checks of a delivered table, done before any row is read.

A file whose columns the loader cannot take as the contract says — a name delivered twice
(directly, or as a column and its alias), a contract column missing, or a column whose type
no contract type can come from (a nested Parquet struct or list, binary, a time of day) — is
refused here with one line. Left to the row pipeline, each of these would surface as a
traceback from Arrow half-way through a load.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from medfollow_core.errors import MedfollowError
from medfollow_core.landing.contracts import SourceContract, Table
from medfollow_core.landing.manifest import Manifest, ManifestFile
from registry_ingest import read


def table_entries(manifest: Manifest, contract: SourceContract) -> dict[str, ManifestFile]:
    """Each contract table's manifest entry, found by table name, else by the file name.

    The manifest's ``table`` field names the table a file holds, so a registry may send a
    table as CSV one month and as a SAS dataset or Parquet the next; the reader follows
    the file's extension. A table is one file: listed twice, one of them would be dropped.
    """
    by_table = {f.table: f for f in manifest.files}
    by_name = {f.name: f for f in manifest.files}
    found = {}
    for table in contract.tables:
        listed = sum(f.table == table.name for f in manifest.files)
        if listed > 1:  # the loader reads one file per table: the others would be dropped
            raise MedfollowError(f"manifest lists {listed} files for table {table.name}; send one")
        entry = by_table.get(table.name) or by_name.get(table.file)
        if entry is None:
            raise MedfollowError(f"manifest lists no file for table {table.name} ({table.file})")
        found[table.name] = entry
    return found


def check_columns(path: Path, table: Table, encoding: str | None) -> None:
    """Refuse ``path`` unless each contract column is delivered once, flat and typed as a
    contract value can be (CSV columns are text, so only their names matter)."""
    fields = read.fields_of(path, encoding)
    names = Counter(f.name for f in fields)
    repeated = sorted(name for name, n in names.items() if n > 1)
    if repeated:
        raise MedfollowError(f"{path.name}: duplicated column names {', '.join(repeated)}")
    by_name = {f.name: f for f in fields}
    missing = []
    for col in table.columns:
        delivered = [n for n in (col.name, *col.aliases) if n in by_name]
        if not delivered:
            missing.append(col.name)
        elif len(delivered) > 1:
            raise MedfollowError(
                f"{path.name}: column {col.name} is delivered twice (as {', '.join(delivered)})"
            )
        elif not _flat(by_name[delivered[0]].type):
            raise MedfollowError(
                f"{path.name}: column {delivered[0]} is {_describe(by_name[delivered[0]].type)}, "
                f"not a plain {col.type} value; deliver it as a flat column"
            )
    if missing:
        raise MedfollowError(f"{path.name}: missing columns {', '.join(missing)}")


def _flat(kind: pa.DataType) -> bool:
    """Types the row typing (``convert``) can turn into any contract type."""
    if pa.types.is_dictionary(kind):
        return _flat(kind.value_type)
    return any(
        check(kind)
        for check in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            pa.types.is_boolean,
            pa.types.is_date,
            pa.types.is_timestamp,
            pa.types.is_null,
        )
    )


def _describe(kind: pa.DataType) -> str:
    nested = pa.types.is_nested(kind)
    return f"nested ({str(kind)[:60]})" if nested else f"of type {str(kind)[:60]}"
