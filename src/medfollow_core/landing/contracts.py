"""Declared contracts: what each source delivers and how it lands in ``raw``.

One YAML file per source under ``contracts/`` is the single place that says which files a
delivery holds, each table's columns with their types, keys and allowed codes, and whether
the source sends full snapshots or increments. The reader, the validation, the loader, the
Airflow DAG factory and the docs all read these objects, so a renamed column in a new
delivery version is a one-line ``aliases`` entry, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from medfollow_core.errors import MedfollowError

ColumnType = Literal["text", "int", "float", "date", "timestamp", "bool", "cpr"]
Mode = Literal["snapshot", "increment"]

_PG_TYPES: dict[str, str] = {
    "text": "text",
    "int": "bigint",
    "float": "double precision",
    "date": "date",
    "timestamp": "timestamp",
    "bool": "boolean",
    "cpr": "text",
}


@dataclass(frozen=True)
class Column:
    """A delivered column. ``cpr`` columns never land: they become ``<target>`` pseudonyms."""

    name: str
    type: ColumnType = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    min: str | None = None  # numbers: the least possible value; dates: the earliest
    max: str | None = None  # numbers only: the greatest possible value
    identifying: bool = False
    description: str = ""

    @property
    def target(self) -> str:
        """The column name in ``raw``: a CPR column ``cpr`` lands as ``person_key``."""
        if self.type != "cpr":
            return self.name
        return (
            "person_key" if self.name == "cpr" else f"{self.name.removesuffix('_cpr')}_person_key"
        )

    @property
    def pg_type(self) -> str:
        return _PG_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    name: str
    file: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...] = ()
    description: str = ""
    numbered: bool = False
    """Rows are told apart downstream by their delivery and their row in the file (no key
    identifies them: a lab result, a dispensing), so each stores ``_row_number``. Other
    tables carry no per-row lineage (a delivery table's id and load time live in the
    catalogue); their rows are identified by their keys, or hang off a keyed table."""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class SourceContract:
    source: str
    family: str
    title: str
    description: str
    mode: Mode
    format: Literal[
        "csv", "parquet", "sas"
    ]  # what the source usually sends; files are read by extension
    tables: tuple[Table, ...]
    encoding: str = "auto"
    references_cpr_register: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def raw_table(self, table: Table) -> str:
        """The fully qualified raw table name, ``raw.<source>__<table>``."""
        return f"raw.{self.source}__{table.name}"

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


def _column(doc: dict[str, Any]) -> Column:  # one parsed YAML mapping
    values = dict(doc)
    for key in ("aliases", "allowed"):
        values[key] = tuple(str(v) for v in values.get(key, ()) or ())
    for key in ("min", "max"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    column = Column(**values)
    _check_range(column)
    return column


def _check_range(col: Column) -> None:
    """A range must be one the row checks apply: numbers take ``min`` and ``max`` (what is
    physically possible), dates and timestamps a ``min`` (the cut-off is their maximum)."""
    if col.type in ("int", "float"):
        for bound in (col.min, col.max):
            if bound is not None:
                float(bound)  # ValueError names the bad bound
        return
    if col.type in ("date", "timestamp") and col.max is None:
        if col.min is not None:
            date.fromisoformat(col.min)
        return
    if col.min is not None or col.max is not None:
        raise ValueError(f"column {col.name}: no min/max range for a {col.type} column")


def _parse(doc: dict[str, Any]) -> SourceContract:  # one parsed YAML document
    tables = tuple(
        Table(
            name=name,
            file=str(tdoc["file"]),
            columns=tuple(_column(c) for c in tdoc["columns"]),
            keys=tuple(tdoc.get("keys", ()) or ()),
            description=str(tdoc.get("description", "")),
            numbered=bool(tdoc.get("numbered", False)),
        )
        for name, tdoc in doc["tables"].items()
    )
    known = {
        "source",
        "family",
        "title",
        "description",
        "mode",
        "format",
        "encoding",
        "tables",
        "references_cpr_register",
    }
    return SourceContract(
        source=str(doc["source"]),
        family=str(doc["family"]),
        title=str(doc["title"]),
        description=str(doc.get("description", "")).strip(),
        mode=doc["mode"],
        format=doc["format"],
        encoding=str(doc.get("encoding", "auto")),
        tables=tables,
        references_cpr_register=bool(doc.get("references_cpr_register", False)),
        extra={k: v for k, v in doc.items() if k not in known},
    )


@cache
def all_contracts() -> dict[str, SourceContract]:
    """Every declared source, keyed by source name."""
    found: dict[str, SourceContract] = {}
    for entry in sorted(
        resources.files(__package__).joinpath("contracts").iterdir(), key=lambda e: e.name
    ):
        if entry.name.endswith(".yaml"):
            contract = _parse(yaml.safe_load(entry.read_text(encoding="utf-8")))
            found[contract.source] = contract
    return found


def contract_for(source: str) -> SourceContract:
    contracts = all_contracts()
    if source not in contracts:
        raise MedfollowError(f"unknown source {source!r}; known: {', '.join(sorted(contracts))}")
    return contracts[source]


def families() -> dict[str, list[SourceContract]]:
    """Sources grouped by family: one Airflow DAG is generated per family."""
    grouped: dict[str, list[SourceContract]] = {}
    for contract in all_contracts().values():
        grouped.setdefault(contract.family, []).append(contract)
    return grouped


def families_register_first() -> list[str]:
    """Family names, the family holding the CPR register first, then by name: the order in
    which running each family's DAG once loads everything (the demo, the end-to-end tests),
    because the other sources wait for the register of their cut-off."""
    grouped = families()
    return sorted(grouped, key=lambda f: (all(c.source != "cpr" for c in grouped[f]), f))
