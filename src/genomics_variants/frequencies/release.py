"""Releases: the published frequency table, versioned and switched atomically.

A release is `releases/<release_id>/frequencies.parquet/` (one row per variant with AC > 0
among raw genotypes or seen in a sample of unknown coverage, in genome order; `variant_id`,
`chrom`, `pos`, `ref`, `alt` and the fields of strata.py: a Parquet dataset of parts
`part-00000.parquet`, ... in genome order, as Spark writes one; releases before 2026-12-02
have one file there), `coverage.parquet/` (AN at every callable site, coverage.py: a
dataset of a part per chunk with callable sites; one file before 2026-12-03),
`genomes.parquet` (internal, never served: the genome ids it counts and those it withheld,
for the release discipline of discipline.py), `served/` (the same two tables in the layout
the API reads them from, served.py) and `release.json`:

    release_id          r00001, r00002, ... (increasing)
    created_at, date    when it was made (UTC)
    assembly            GRCh38
    sample_count        genomes counted
    samples_by_stratum  genomes per stratum (internal: small counts, not served)
    variant_count       rows of frequencies.parquet
    callable_intervals  rows of coverage.parquet
    store_generation    the contribution-store generation it was computed from
    qc                  genotype QC of the batches counted
    strata              the strata, in column order

It is written in full under a temporary name, renamed into place, and only then does
`releases/CURRENT` (one atomic rename) point at it; readers that opened the previous
release keep reading it. The previous release stays on disk until the next one is
complete, except after an opt-out removal: then every older release is deleted, since each
holds the removed person's genotypes (`keep_previous=False`).

The frequencies are written in parts, each covering whole genomic chunks of the working
aggregate (contributions/chunks.py) up to PART_VARIANTS variants: a part is its Parquet
file and its share of the served layout, and the parts' served shares are then joined
(served.join_parts: the blocks copied by the kernel, the indexes concatenated). Parts are
written one after another in this process, or at once by Spark's executors
(`write_release(..., spark=session)`, frequencies/spark_parts.py): the same parts, so the
same release, byte for byte. Nothing of the release passes through Spark's driver.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.assembly import ASSEMBLY
from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.cells import N_CELLS, REGIONS, SEXES
from genomics_variants.contributions.chunks import ChunkedCounts, chunked, concat
from genomics_variants.contributions.measures import N_MEASURES
from genomics_variants.contributions.store import State, Store
from genomics_variants.frequencies.coverage import (
    COVERAGE_FILE,
    COVERAGE_PARTS_DIR,
    COVERAGE_SCHEMA,
    COVERAGE_TABLE,
    PIECES_SCHEMA,
    write_coverage_part,
    write_coverage_parts,
)
from genomics_variants.frequencies.discipline import Released
from genomics_variants.frequencies.parts import part_attempt
from genomics_variants.frequencies.served import (
    BLOCK_ROWS,
    SERVED_DIR,
    Layout,
    is_current,
    join_parts,
    layout_of,
)
from genomics_variants.frequencies.served import write_served as write_blocks
from genomics_variants.frequencies.strata import (
    FIELDS,
    GROUP_STRATA,
    RATIO_COLUMNS,
    RAW_FIELDS,
    STRATA,
    UNKNOWN_COVERAGE_FIELD,
    column,
    grpmax_fields,
    stratum_fields,
)
from genomics_variants.sites import Sites, arrow_ids
from medfollow_core.errors import MedfollowError

KEEP_RELEASES = 2
RELEASE_ID = re.compile(r"r[0-9]{5,}")
FREQUENCIES_FILE = "frequencies.parquet"
RELEASE_FILE = "release.json"
GENOMES_FILE = "genomes.parquet"
ROW_GROUP = 65_536
PART_VARIANTS = 1 << 22
"""Variants a part of a release covers at most, but for its last chunk (4.2 M: 160 parts
at 650 M variants, one for a demo store)."""
PARTS_DIR = ".parts"  # each part's share of the served layout, until joined
VARIANTS_TABLE = "frequencies"  # the served tables (served.py)


@dataclass(frozen=True)
class Release:
    """A published release: its folder and metadata."""

    release_id: str
    folder: Path
    meta: dict[str, Any]  # release.json, parsed

    @property
    def frequencies(self) -> Path:
        """The frequency table: a folder of Parquet parts (one file in older releases);
        pyarrow, Spark and DuckDB read either as one table."""
        return self.folder / FREQUENCIES_FILE

    def frequency_files(self) -> list[Path]:
        """The Parquet files of the frequency table, in genome order."""
        return _table_files(self.frequencies)

    def frequency_row_groups(self) -> Iterator[pa.Table]:
        """The frequency table a Parquet row group at a time, in genome order."""
        return _row_groups(self.frequency_files())

    @property
    def coverage(self) -> Path:
        """The coverage table (coverage.py): a folder of Parquet parts, one per chunk with
        callable sites (one file in older releases)."""
        return self.folder / COVERAGE_FILE

    def coverage_row_groups(self) -> Iterator[pa.Table]:
        """The coverage table a Parquet row group at a time, in genome order (none for a
        release made before releases held one)."""
        return _row_groups(_table_files(self.coverage) if self.coverage.exists() else [])

    @property
    def sample_count(self) -> int:
        return int(self.meta["sample_count"])


def _table_files(path: Path) -> list[Path]:
    """The Parquet files of a release table written in parts, in genome order (their
    numbers'), or the table's one file in a release made before parts."""
    if not path.is_dir():
        return [path]
    return sorted(path.glob("part-*.parquet"), key=lambda p: int(p.stem.removeprefix("part-")))


def _row_groups(files: Iterable[Path]) -> Iterator[pa.Table]:
    for path in files:
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            yield file.read_row_group(group)


def frequency_table(state: State) -> pa.Table:
    """The release table of a store state (variants observed: raw AC > 0, or seen in a
    sample of unknown coverage), whole in memory: for one machine's work and for checks.
    A release is written chunk by chunk (frequency_parts)."""
    return frequencies_of(state.aggregate.sites, state.aggregate.counts)


def _fields(parts: Iterable[tuple[int, Aggregate]]) -> Iterator[pa.Table]:
    """The release table of chunks' counts, in their order, a few chunks at a time: the
    counts of at most ROW_GROUP variants or one chunk are in memory. Sparse chunks are
    taken together: computing the fields costs about 8 ms a call whatever its size (a
    synthetic store of 1 M variants in 4,200 chunks took 65 s chunk by chunk, 20 s so)."""
    pending: list[Aggregate] = []
    held = 0
    for _, part in parts:
        pending.append(part)
        held += len(part)
        if held >= ROW_GROUP:
            taken = concat(pending)
            yield frequencies_of(taken.sites, taken.counts)
            pending, held = [], 0
    if held:
        taken = concat(pending)
        yield frequencies_of(taken.sites, taken.counts)


def plan_parts(sizes: Iterable[tuple[int, int]], per_part: int) -> list[list[int]]:
    """The chunks of each part of a release: consecutive chunks, a part closed once it holds
    `per_part` variants (one part, maybe empty, at least)."""
    parts: list[list[int]] = []
    current: list[int] = []
    held = 0
    for chunk, variants in sizes:
        current.append(chunk)
        held += variants
        if held >= per_part:
            parts.append(current)
            current, held = [], 0
    if current or not parts:
        parts.append(current)
    return parts


def write_part(
    folder: Path, number: int, counts: ChunkedCounts, chunks: Sequence[int], block_rows: int
) -> int:
    """Part `number` of a release being written in `folder`: the frequencies of `chunks` as
    `frequencies.parquet/part-<number>.parquet` and as a served table in
    `.parts/<number>` (joined later); returns its rows. Run in this process or on a Spark
    executor (on storage shared with the driver), each attempt under names of its own
    (parts.py)."""
    schema = release_schema()
    layout = _variants_layout(schema)
    name = f"{number:05d}"
    attempt = part_attempt(folder, FREQUENCIES_FILE, PARTS_DIR, f"part-{name}.parquet", name)
    with attempt as (parquet, share):
        tables = _fields(counts.parts(chunks) if chunks else iter(()))
        with pq.ParquetWriter(parquet, schema, compression="zstd") as out:
            rows = write_blocks(
                share, VARIANTS_TABLE, _written(tables, out), layout, block_rows=block_rows
            )
    return rows


def _variants_layout(schema: pa.Schema) -> Layout:
    """The served layout of a release table (its counts are int32; AF divided out)."""
    return layout_of(schema, "chrom", "pos", "int32", RATIO_COLUMNS)


def release_schema() -> pa.Schema:
    """The columns of a release table (those of a release without variants)."""
    return frequencies_of(Sites.empty(), np.zeros((0, N_CELLS, N_MEASURES), np.int32)).schema


def frequencies_of(all_sites: Sites, counts: np.ndarray) -> pa.Table:
    """The release table of (variants, cells, measures) counts (measures.py): the rows of
    variants observed, the fields of strata.py.

    One stratum's fields exist at a time, for every variant, only until its columns are
    taken for the observed ones (grpmax keeps the regional AC, AN, AF and faf95 it needs):
    holding all nine strata's numpy fields at once cost about 1.2 kB per variant, the
    largest part of a release's peak memory (bench/variants.py, peak RSS)."""
    everyone = stratum_fields(all_sites, counts, "all")
    keep = np.flatnonzero((everyone["ac_raw"] > 0) | (everyone[UNKNOWN_COVERAGE_FIELD] > 0))
    sites = all_sites.take(keep)
    located = sites.to_arrow()
    columns: dict[str, pa.Array] = {"variant_id": arrow_ids(located), **located}
    regional: dict[str, dict[str, np.ndarray]] = {}
    for stratum in STRATA:
        fields = everyone if stratum == "all" else stratum_fields(all_sites, counts, stratum)
        for name in (*FIELDS, *RAW_FIELDS):
            columns[column(name, stratum)] = _arrow(fields[name][keep])
        if stratum in GROUP_STRATA:
            regional[stratum] = {k: fields[k][keep] for k in ("ac", "an", "af", "faf95")}
    columns[UNKNOWN_COVERAGE_FIELD] = pa.array(everyone[UNKNOWN_COVERAGE_FIELD][keep], pa.int32())
    del everyone
    for name, values in grpmax_fields(regional, len(keep)).items():
        if name in ("grpmax", "faf95_max_region"):
            columns[name] = pa.array(values.tolist(), pa.string())
        else:
            columns[name] = _arrow(values)
    return pa.table(columns)


def _arrow(values: np.ndarray) -> pa.Array:
    """A count as int32, a ratio as float64 with NaN (no denominator) as null."""
    if values.dtype.kind == "f":
        return pa.array(values, pa.float64(), mask=np.isnan(values))
    return pa.array(values, pa.int32())


def _sample_counts(state: State) -> dict[str, int]:
    sex = np.array(state.samples.column("sex").to_pylist(), dtype=object)
    region = np.array(state.samples.column("region").to_pylist(), dtype=object)
    counts = {"all": state.sample_count}
    counts |= {s: int((sex == s).sum()) for s in SEXES}
    counts |= {r: int((region == r).sum()) for r in REGIONS}
    return counts


def current_release(store: Store) -> Release | None:
    """The release in force, or None before the first."""
    pointer = store.releases_dir / "CURRENT"
    if not pointer.exists():
        return None
    release_id = pointer.read_text(encoding="utf-8").strip()
    return load_release(store, release_id)


def load_release(store: Store, release_id: str) -> Release:
    folder = store.releases_dir / release_id
    meta_file = folder / RELEASE_FILE
    if not meta_file.exists():
        raise MedfollowError(f"release {release_id} not found in {store.root}")
    return Release(release_id, folder, json.loads(meta_file.read_text(encoding="utf-8")))


def list_releases(store: Store) -> list[Release]:
    """Releases on disk, oldest first."""
    if not store.releases_dir.exists():
        return []
    ids = sorted(
        (
            p.name
            for p in store.releases_dir.iterdir()
            if RELEASE_ID.fullmatch(p.name) and (p / RELEASE_FILE).exists()
        ),
        key=lambda name: int(name[1:]),
    )
    return [load_release(store, i) for i in ids]


def released_genomes(release: Release | None) -> Released:
    """The genomes a release counts and withheld (none before the first release)."""
    if release is None or not (release.folder / GENOMES_FILE).exists():
        return Released(frozenset(), frozenset())
    table = pq.read_table(release.folder / GENOMES_FILE)
    ids = table.column("genome_id").to_pylist()
    withheld = table.column("withheld").to_pylist()
    return Released(
        frozenset(g for g, w in zip(ids, withheld, strict=True) if not w),
        frozenset(g for g, w in zip(ids, withheld, strict=True) if w),
    )


def _genomes_table(state: State, withheld: Collection[str]) -> pa.Table:
    """Who a release counts and withholds: the next release is planned against it."""
    counted = state.samples.column("genome_id").to_pylist()
    held = sorted(withheld)
    return pa.table(
        {
            "genome_id": pa.array(counted + held, pa.string()),
            "withheld": pa.array([False] * len(counted) + [True] * len(held), pa.bool_()),
        }
    )


def write_release(
    store: Store,
    state: State,
    *,
    withheld: Collection[str] = (),
    keep_previous: bool = True,
    spark: Any | None = None,
    part_variants: int = PART_VARIANTS,
    block_rows: int = BLOCK_ROWS,
) -> Release:
    """Publish the state (the genomes it counts) as a new release and switch to it (see
    module docstring); `withheld` names stored genomes it leaves out on purpose. The
    frequencies are written in parts (of `part_variants`), by this process one after
    another or by Spark's executors given a `spark` session: to Parquet and to the served
    layout in one pass, in the memory of ROW_GROUP variants or one chunk."""
    store.releases_dir.mkdir(parents=True, exist_ok=True)
    existing = list_releases(store)
    number = int(existing[-1].release_id.removeprefix("r")) + 1 if existing else 1
    release_id = f"r{number:05d}"
    for leftover in store.releases_dir.glob(".*.partial"):  # from an interrupted release
        shutil.rmtree(leftover, ignore_errors=True)
    folder = store.releases_dir / release_id
    tmp = folder.with_name(f".{release_id}.partial")
    tmp.mkdir()
    counts = chunked(state.counts, store.chunk_bits)
    plan = plan_parts(counts.sizes(), part_variants)
    try:
        if spark is None:
            for part, chunks in enumerate(plan):
                write_part(tmp, part, counts, chunks, block_rows)
            covered = write_coverage_parts(store, state, tmp, block_rows)
        else:
            from genomics_variants.frequencies.spark_coverage import (
                write_coverage_parts_on_spark,
            )
            from genomics_variants.frequencies.spark_parts import write_parts_on_spark

            write_parts_on_spark(spark, tmp, counts, plan, block_rows)
            covered = write_coverage_parts_on_spark(spark, store, state, tmp, block_rows)
        if not covered:  # no genome with blocks: an empty table, so that one always exists
            covered = [0]
            write_coverage_part(tmp, 0, PIECES_SCHEMA.empty_table(), block_rows)
        shares = [tmp / PARTS_DIR / f"{part:05d}" for part in range(len(plan))]
        variant_count = join_parts(tmp / SERVED_DIR, VARIANTS_TABLE, shares)
        coverage_shares = [tmp / COVERAGE_PARTS_DIR / str(chunk) for chunk in covered]
        callable_intervals = join_parts(tmp / SERVED_DIR, COVERAGE_TABLE, coverage_shares)
    except BaseException:  # a release not made leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for shares_dir in (PARTS_DIR, COVERAGE_PARTS_DIR):
        shutil.rmtree(tmp / shares_dir)
    for table in (FREQUENCIES_FILE, COVERAGE_FILE):
        for leftover in (tmp / table).glob(".*.partial"):  # of attempts killed midway
            leftover.unlink(missing_ok=True)
    pq.write_table(_genomes_table(state, withheld), tmp / GENOMES_FILE)
    created = datetime.now(UTC)
    meta: dict[str, object] = {
        "release_id": release_id,
        "created_at": created.isoformat(timespec="seconds"),
        "date": created.date().isoformat(),
        "assembly": ASSEMBLY,
        "sample_count": state.sample_count,
        "samples_by_stratum": _sample_counts(state),
        "variant_count": variant_count,
        "callable_intervals": callable_intervals,
        "store_generation": state.generation,
        "qc": sorted(set(state.batches.column("qc").to_pylist())),
        "strata": list(STRATA),
    }
    (tmp / RELEASE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.rename(folder)
    pointer = store.releases_dir / "CURRENT"
    staged = pointer.with_name(".CURRENT.tmp")
    staged.write_text(release_id + "\n", encoding="utf-8")
    os.replace(staged, pointer)
    kept = KEEP_RELEASES if keep_previous else 1
    for old in existing[: max(0, len(existing) + 1 - kept)]:
        shutil.rmtree(old.folder, ignore_errors=True)
    return Release(release_id, folder, meta)


def write_served(
    folder: Path,
    parts: Iterable[pa.Table],
    coverage: Iterable[pa.Table] | None,
    block_rows: int = BLOCK_ROWS,
    *,
    schema: pa.Schema | None = None,
    coverage_schema: pa.Schema = COVERAGE_SCHEMA,
) -> int:
    """A release table and its coverage table, each given in parts in genome order, in the
    served layout in `folder/served` (served.py), a part in memory at a time; returns the
    release table's rows. `schema`, `coverage_schema`: the parts' (this version's by
    default; a release of another version may have other strata)."""
    layout = _variants_layout(release_schema() if schema is None else schema)
    target = folder / SERVED_DIR
    rows = write_blocks(target, VARIANTS_TABLE, parts, layout, block_rows=block_rows)
    if coverage is not None:
        shape = layout_of(coverage_schema, "chrom", "start")
        write_blocks(target, COVERAGE_TABLE, coverage, shape, block_rows=block_rows)
    return rows


def _written(parts: Iterable[pa.Table], out: pq.ParquetWriter) -> Iterator[pa.Table]:
    """The parts passed on, each also written to `out` in row groups of ROW_GROUP rows."""
    pending: list[pa.Table] = []
    held = 0
    for part in parts:
        yield part
        pending.append(part)
        held += part.num_rows
        if held >= ROW_GROUP:
            rows = pa.concat_tables(pending)
            whole = (held // ROW_GROUP) * ROW_GROUP
            out.write_table(rows.slice(0, whole), row_group_size=ROW_GROUP)
            pending, held = [rows.slice(whole)], held - whole
    if held:
        out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)


def ensure_served(release: Release) -> Path:
    """The release's served folder, written from its Parquet tables if the release was made
    before releases carried it or in an earlier version of the layout. One process at a
    time rebuilds it (a lock file in the release folder, the check made again under it),
    aside and renamed in, so a reader never sees a served folder half written or a current
    one moved away; a reader of the old copy keeps its open files."""
    folder = release.folder / SERVED_DIR
    if is_current(folder, VARIANTS_TABLE):
        return folder
    with open(release.folder / ".served.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_current(folder, VARIANTS_TABLE):  # another process rebuilt it meanwhile
            return folder
        for leftover in release.folder.glob(".served-*"):  # from a rebuild that died
            shutil.rmtree(leftover, ignore_errors=True)
        aside, stale = release.folder / ".served-new", release.folder / ".served-old"
        coverage, coverage_schema = None, COVERAGE_SCHEMA
        if release.coverage.exists():
            coverage = release.coverage_row_groups()
            coverage_schema = pq.read_schema(_table_files(release.coverage)[0])
        schema = pq.read_schema(release.frequency_files()[0])
        write_served(
            aside,
            release.frequency_row_groups(),
            coverage,
            schema=schema,
            coverage_schema=coverage_schema,
        )
        if folder.exists():
            folder.rename(stale)
        (aside / SERVED_DIR).rename(folder)
        for leftover in (aside, stale):
            shutil.rmtree(leftover, ignore_errors=True)
    return folder
