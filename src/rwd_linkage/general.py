"""The general ``link`` command: link any two files of people from a short spec.

Nothing here knows about Danish registries. The spec names the fields and their kinds; the
kinds bring the normalisation (``prepare``) and comparison ladders (``comparisons``) the
platform itself uses; the Fellegi–Sunter parameters are estimated from the two files.
Candidate pairs come from the spec's blocking rules or, by default, from every pair of
blockable fields agreeing (a pair is compared as long as any two of its fields survived
intact) plus swapped day and month for dates.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from splink import block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress
from rwd_linkage import comparisons, model, prepare
from rwd_linkage.spec import FieldSpec, LinkSpec

_READERS = {
    ".csv": "read_csv",
    ".txt": "read_csv",
    ".tsv": "read_csv",
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
}
# Sampling caps: enough pairs for stable estimates, few enough to keep a small job quick.
U_MAX_PAIRS = 1e6
EM_MAX_PAIRS = 2e6


@dataclass(frozen=True)
class LinkResult:
    left_rows: int
    right_rows: int
    pairs: int
    model_json: dict[str, object]


def link_files(
    left: Path, right: Path, spec: LinkSpec, out: Path, *, progress: Progress | None = None
) -> LinkResult:
    """Link ``left`` to ``right`` as ``spec`` says and write the accepted pairs to ``out``."""
    report = progress or (lambda _label, _done, _total: None)
    con = duckdb.connect()
    try:
        report("reading", 1, 5)
        left_rows = _load(con, "left_raw", left, spec.left_id, [f.left for f in spec.fields])
        right_rows = _load(con, "right_raw", right, spec.right_id, [f.right for f in spec.fields])
        con.execute(f"create table left_side as {_prepared(spec, 'left')}")
        con.execute(f"create table right_side as {_prepared(spec, 'right')}")
        report("training (u by sampling, m by EM)", 2, 5)
        rules = blocking_rules(spec)
        trained = model.train(
            con,
            "left_side",
            "right_side",
            comparisons=[_comparison(f) for f in spec.fields],
            blocking_rules=[_creator(r) for r in rules],
            training=[model.TrainingPass(_creator(r)) for r in training_rules(spec, rules)],
            u_max_pairs=U_MAX_PAIRS,
            em_max_pairs=EM_MAX_PAIRS,
        )
        report("scoring candidate pairs", 3, 5)
        pairs = model.score(trained, threshold=spec.threshold)
        report("choosing pairs", 4, 5)
        accepted = _accept(
            pairs["left_id"].to_pylist(),
            pairs["right_id"].to_pylist(),
            pairs["match_probability"].to_pylist(),
            one_to_one=spec.one_to_one,
        )
        _write(out, accepted)
        report("written", 5, 5)
        return LinkResult(left_rows, right_rows, len(accepted), trained.to_json())
    finally:
        con.close()


def blocking_rules(spec: LinkSpec) -> list[tuple[str, ...] | str]:
    """The spec's rules, or by default every pair of blockable fields (each alone if there
    is only one) plus a swapped-day-and-month rule per date field."""
    if spec.blocking:
        return list(spec.blocking)
    blockable = [f.name for f in spec.fields if f.kind in ("name", "date", "postcode", "exact")]
    rules: list[tuple[str, ...] | str] = (
        [tuple(p) for p in itertools.combinations(blockable, 2)]
        if len(blockable) > 1
        else [(blockable[0],)]
    )
    rules += [f"l.{f.name}__swapped = r.{f.name}" for f in spec.fields if f.kind == "date"]
    return rules


def training_rules(spec: LinkSpec, rules: list[tuple[str, ...] | str]) -> list[tuple[str, ...]]:
    """EM passes that together train every comparison.

    A pass learns only the comparisons its rule does not mention, so rules are picked
    greedily — the one that frees the most still-untrained fields, then the one fixing
    fewest — from the field-list blocking rules and single blockable fields, until every
    field has been free in some pass. (SQL blocking rules are not used: which comparisons
    they fix is Splink's reading of the SQL, not ours.)
    """
    fields = {f.name for f in spec.fields}
    pool = [r for r in rules if isinstance(r, tuple)] + [
        (f.name,) for f in spec.fields if f.kind in ("name", "date", "postcode")
    ]
    untrained, chosen = set(fields), []
    while untrained and pool:
        best = max(pool, key=lambda r: (len(untrained - set(r)), -len(r)))
        if not untrained - set(best):
            break
        chosen.append(best)
        untrained -= fields - set(best)
    return chosen


def _creator(rule: tuple[str, ...] | str) -> BlockingRuleCreator | str:
    return block_on(*rule) if isinstance(rule, tuple) else rule


def _load(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, id_column: str, columns: list[str]
) -> int:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise MedfollowError(f"{path.name}: expected a .csv or .parquet file")
    if not path.exists():
        raise MedfollowError(f"{path} does not exist")
    options = ", all_varchar = true" if reader == "read_csv" else ""
    try:
        con.execute(
            f"create table {table} as select * from {reader}({prepare.literal(str(path))}{options})"
        )
    except duckdb.Error as exc:
        raise MedfollowError(f"{path.name}: cannot read ({str(exc).splitlines()[0]})") from None
    present = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    missing = [c for c in dict.fromkeys([id_column, *columns]) if c not in present]
    if missing:
        raise MedfollowError(
            f"{path.name}: no column {missing[0]!r} (columns: {', '.join(sorted(present))})"
        )
    total, distinct, present_ids = con.execute(
        f'select count(*), count(distinct "{id_column}"), count("{id_column}") from {table}'
    ).fetchall()[0]
    if distinct != total or present_ids != total:
        raise MedfollowError(f"{path.name}: id column {id_column!r} must be unique and never empty")
    if total == 0:
        raise MedfollowError(f"{path.name}: no rows")
    return int(total)


def _prepared(spec: LinkSpec, side: str) -> str:
    id_column = spec.left_id if side == "left" else spec.right_id
    columns = {"unique_id": f'cast("{id_column}" as varchar)'}
    for f in spec.fields:
        source = f'"{f.left if side == "left" else f.right}"'
        fmt = f.left_format if side == "left" else f.right_format
        columns.update(_field_columns(f, source, fmt))
    return f"select {prepare.select_list(columns)} from {side}_raw"


def _field_columns(f: FieldSpec, source: str, fmt: str | None) -> dict[str, str]:
    if f.kind == "name":
        return prepare.name_columns(f.name, source)
    if f.kind == "date":
        formats = (
            (fmt, fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m"))
            if fmt
            else prepare.DEFAULT_DATE_FORMATS
        )
        return prepare.date_columns(f.name, source, formats)
    if f.kind == "postcode":
        return {f.name: prepare.code_column(source)}
    if f.kind == "string":
        return {f.name: prepare.fold(source)}
    return {f.name: prepare.text_column(source)}


def _comparison(f: FieldSpec) -> ComparisonCreator:
    builders: dict[str, Callable[[str], ComparisonCreator]] = {
        "name": comparisons.name,
        "date": comparisons.date,
        "postcode": comparisons.postcode,
        "string": comparisons.text,
        "exact": comparisons.exact,
    }
    return builders[f.kind](f.name)


def _accept(
    left: list[str], right: list[str], probability: list[float], *, one_to_one: bool
) -> list[tuple[str, str, float]]:
    """Pairs above the threshold; with ``one_to_one``, best first, each record used once."""
    ranked = sorted(zip(left, right, probability, strict=True), key=lambda p: (-p[2], p[0], p[1]))
    if not one_to_one:
        return ranked
    used_left: set[str] = set()
    used_right: set[str] = set()
    chosen = []
    for pair in ranked:
        if pair[0] in used_left or pair[1] in used_right:
            continue
        used_left.add(pair[0])
        used_right.add(pair[1])
        chosen.append(pair)
    return chosen


def _write(out: Path, pairs: list[tuple[str, str, float]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["left_id", "right_id", "match_probability"])
        writer.writerows((a, b, f"{p:.6f}") for a, b, p in pairs)
