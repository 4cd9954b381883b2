"""The aggregate computed on Apache Spark, with exactly the counting rules of aggregate.py:
for a store too large for one process, on a cluster or on this machine (``local[*]``).

The unit of work is one row group of a batch's calls file (``CALLS_ROW_GROUP`` samples at
every variant the batch lists). A Spark task reads it with its batch's sites and turns the
codes into measure sums per variant and cell through the one look-up table (measures.py),
so the rules are written once. Spark then sums the tasks' rows per variant and cell,
counts the batches listing each variant, and finds for every variant and every sample with
reference blocks (gVCF, or the callable regions of a plain VCF) whose own file does not
list it the block that speaks there (``block_codes_at``'s rule, as an as-of join: a sort
per sample and contig), whose code adds its row of the same table to the sample's cell.

Nothing of the aggregate passes through the driver. The change rows are grouped by genomic
chunk (chunks.py), and the executor that gets a chunk reads the chunk's file, applies the
change there (``chunks.applied``: the rules of ``add()`` and ``subtract()``), writes the
chunk's new file and returns one manifest row; the driver gathers those rows (a few
thousand for the genome) into the next generation's manifest. So a change reads and writes
the chunks it touches, and the known variants that reference blocks are counted at are
read from the chunk files by the executors.

``spark_add`` sums new batches (and, at variants they list first, the stored blocks) and
adds; ``spark_subtract`` sums what removed genomes took away (their codes; in a joint batch
rewritten without them, the others' codes at the variants it no longer lists; the blocks of
an emptied gVCF or ``vcf+bed`` batch) and subtracts; ``spark_aggregate`` counts every stored
batch afresh into a folder of its own, to be compared with the store's chunk by chunk.

Where it runs: ``master`` if given, else ``$MEDFOLLOW_SPARK_MASTER``, else the master that
``spark-submit`` configured, else ``local[*]``. On a cluster the store must lie on storage
every executor can read (the shared root). The variant DAG submits its counting steps with
spark-submit when configured for a cluster (spark_job.py).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.assembly import CONTIG_RANK
from genomics_variants.contributions.aggregate import (
    BLOCK_KINDS,
    UNKNOWN_COVERAGE_KIND,
    Aggregate,
)
from genomics_variants.contributions.chunks import (
    LISTED,
    MANIFEST_SCHEMA,
    MEASURE_COLUMNS,
    Chunks,
    applied,
    chunk_file,
    read_chunk,
    write_chunk,
)
from genomics_variants.contributions.chunks import VARIANT as VARIANT_FIELDS
from genomics_variants.contributions.chunks import digest as chunk_digest
from genomics_variants.contributions.measures import LUT, N_MEASURES, measure_sums
from genomics_variants.contributions.store import Store, binary_to_codes
from genomics_variants.sites import Sites
from medfollow_core.errors import MedfollowError

MASTER_ENV = "MEDFOLLOW_SPARK_MASTER"
BATCH_OF_BLOCKS_FILE = r"/contributions/batch=([^/]+)/blocks\.parquet$"
BATCH_FIELDS = ("batch_id", "kind", "calls_file")
UNIT_SCHEMA = (
    "batch_id string, kind string, sites string, calls string, row_group int, "
    "genomes array<string>, still_listed string, lists boolean"
)
VARIANT_SCHEMA = "chrom string, pos long, ref string, alt string"
MEASURES_SCHEMA = ", ".join(f"{m} long" for m in MEASURE_COLUMNS)
VARIANT = list(VARIANT_FIELDS)  # (pyspark's join takes a list of columns, not a tuple)
CHUNK_ROW_SCHEMA = "chunk long, file string, variants long, digest string, error string"
CHUNK_ROW = pa.schema(
    [
        *MANIFEST_SCHEMA,
        pa.field("error", pa.string()),
    ]
)


SHUFFLE_PARTITIONS_PER_CORE = 3


def spark_session(master: str | None = None, *, partitions: int | None = None) -> Any:
    """A Spark session for the aggregation (see the module's docstring for the master).

    Its shuffles (the per-chunk steps: each chunk's change, each chunk's coverage) run in
    `partitions` tasks; by default SHUFFLE_PARTITIONS_PER_CORE per core the session has at
    its start, unless the deployment set spark.sql.shuffle.partitions itself. A fixed
    number (8, before) capped those steps at 8 tasks on a cluster of any size."""
    with warnings.catch_warnings():
        # pyspark 4.3 warns on import that it does not yet fully support pandas 3; nothing
        # here goes through pandas (Arrow both ways)
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("medfollow-variants")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    chosen = master or os.environ.get(MASTER_ENV)
    if chosen is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        chosen = "local[*]"
    if chosen is not None:
        builder = builder.master(chosen)
    if (chosen or "").startswith("local"):
        # Spark's Python workers run this interpreter, the platform installed in it (pyspark
        # reads the variable when the context starts, not the spark.pyspark.python setting)
        os.environ["PYSPARK_PYTHON"] = sys.executable
    elif chosen is None:
        # under spark-submit, the same unless the deployment names the executors' Python
        # (spark-submit then sets the variable from spark.pyspark.python)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = builder.getOrCreate()
    context = session.sparkContext
    if partitions is None and not context.getConf().contains("spark.sql.shuffle.partitions"):
        partitions = SHUFFLE_PARTITIONS_PER_CORE * context.defaultParallelism
    if partitions is not None:
        session.conf.set("spark.sql.shuffle.partitions", str(partitions))
    context.setLogLevel("ERROR")
    # py4j's threads log every closed gateway connection at INFO, into whatever stream the
    # process's logging writes to at that moment (a command's JSON output, say)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    return session


@dataclass(frozen=True)
class StoredBatch:
    """A batch's files as the store's batches table names them."""

    batch_id: str
    kind: str
    calls_file: str


@dataclass(frozen=True)
class Removal:
    """Genomes leaving a stored batch: `batch` as stored before the removal (its files still
    on disk), `genomes` the ones removed, `rewritten_as` the batch written to replace it
    without them (remove.py), or None when no genome is left and the batch goes."""

    batch: StoredBatch
    genomes: tuple[str, ...]
    rewritten_as: str | None


def spark_aggregate(store: Store, spark: Any, into: Path) -> Chunks:
    """The aggregate of every sample stored in `store`'s current generation, computed by
    Spark into the empty folder `into` (on storage the executors share); its chunks equal
    those of ``recompute(store)``."""
    state = store.load()
    batches = [StoredBatch(**b) for b in state.batches.select(list(BATCH_FIELDS)).to_pylist()]
    into.mkdir(parents=True, exist_ok=True)
    return spark_add(
        store,
        spark,
        Chunks.empty(into, store.chunk_bits),
        batches,
        samples=state.samples,
        residents=(),
        generation=state.generation,
    )


def spark_add(
    store: Store,
    spark: Any,
    previous: Chunks,
    new: Sequence[StoredBatch],
    *,
    samples: pa.Table,
    residents: Sequence[str],
    generation: int,
) -> Chunks:
    """`previous` with the batches `new` (their files written) added, as ``add()`` does:
    the new batches' calls at the variants they list, their blocks (if any) at every
    variant, and the blocks of the stored block samples `residents` at the variants no
    stored batch listed before. Reads only those batches' files and the chunks they touch:
    the work follows the change, not the store. `samples`: genome_id, batch_id and cell of
    (at least) the genomes of the new and the resident batches. The chunks changed are
    written as `generation`'s, beside `previous`'s."""
    if not new:
        return previous
    rows, genome_cells = _change_rows(spark, [u for b in new for u in _units(store, b)], samples)
    listed = _listed(rows)
    new_variants = listed.select(*VARIANT).distinct()
    with_blocks = [b.batch_id for b in new if b.kind in BLOCK_KINDS]
    block_cells = _column_map(samples, "batch_id", "cell")  # a block batch holds one genome
    block_sums = []
    if with_blocks or residents:  # (only then are the chunks' variants read)
        known = _known(spark, previous)
        block_sums = [
            _block_sums(
                spark,
                store,
                with_blocks,
                block_cells,
                known.unionByName(new_variants).distinct(),
                listed,
            ),
            _block_sums(
                spark,
                store,
                list(residents),
                block_cells,
                new_variants.join(known, VARIANT, "left_anti"),
                listed,
            ),
        ]
    return _updated(spark, rows, block_sums, previous, generation, sign=1, broadcast=genome_cells)


def spark_subtract(
    store: Store,
    spark: Any,
    previous: Chunks,
    removals: Sequence[Removal],
    *,
    samples: pa.Table,
    generation: int,
) -> Chunks:
    """`previous` without what `removals` take away, as ``subtract()`` does: the removed
    genomes' codes at every variant their batch lists; in a batch rewritten without them,
    the other genomes' codes at the variants it no longer lists (nobody left carries them);
    the blocks of a removed gVCF or vcf+bed genome at every variant its own file does not
    list; one listing less where a batch no longer lists a variant, and the variants no
    batch lists any more dropped. Reads only the changed batches, and of a batch that keeps
    every variant only the row groups holding removed genomes. `samples`: genome_id,
    batch_id and cell of the genomes of those batches, as stored before the removal. The
    chunks changed are written as `generation`'s."""
    if not removals:
        return previous
    units = [u for r in removals for u in _removal_units(store, r)]
    rows, genome_cells = _change_rows(spark, units, samples)
    listed = _listed(rows)
    with_blocks = [r.batch.batch_id for r in removals if r.batch.kind in BLOCK_KINDS]
    block_sums = []
    if with_blocks:  # (the aggregate's variants go to Spark only when blocks need them)
        cells = _column_map(samples, "batch_id", "cell")
        known = _known(spark, previous)
        block_sums.append(_block_sums(spark, store, with_blocks, cells, known, listed))
    return _updated(spark, rows, block_sums, previous, generation, sign=-1, broadcast=genome_cells)


def _units(
    store: Store,
    batch: StoredBatch,
    *,
    genomes: Sequence[str] | None = None,
    still_listed: str | None = None,
    row_groups: Sequence[int] | None = None,
) -> list[tuple[Any, ...]]:
    """The Spark tasks of a batch (UNIT_SCHEMA): one per row group of its calls file (all,
    or `row_groups`), the first also giving the batch's LISTED rows (see _unit_sums)."""
    folder = store.batch_dir(batch.batch_id)
    calls = folder / batch.calls_file
    groups = range(pq.ParquetFile(calls).num_row_groups) if row_groups is None else row_groups
    chosen = None if genomes is None else list(genomes)
    return [
        (
            batch.batch_id,
            batch.kind,
            str(folder / "sites.parquet"),
            str(calls),
            group,
            chosen,
            still_listed,
            number == 0,
        )
        for number, group in enumerate(groups)
    ]


def _removal_units(store: Store, removal: Removal) -> list[tuple[Any, ...]]:
    """The tasks of one removal: an emptied batch is counted whole; a rewritten one counts
    the removed genomes everywhere and every genome at the variants it no longer lists, so
    every row group is read if it drops variants, else only those holding removed genomes."""
    batch = removal.batch
    if removal.rewritten_as is None:
        return _units(store, batch)
    kept = store.batch_dir(removal.rewritten_as) / "sites.parquet"
    before = store.batch_dir(batch.batch_id) / "sites.parquet"
    drops = pq.ParquetFile(kept).metadata.num_rows < pq.ParquetFile(before).metadata.num_rows
    groups = None
    if not drops:
        groups = _row_groups_holding(
            store.batch_dir(batch.batch_id) / batch.calls_file, removal.genomes
        )
    return _units(store, batch, genomes=removal.genomes, still_listed=str(kept), row_groups=groups)


def _row_groups_holding(calls: Path, genomes: Sequence[str]) -> list[int]:
    """The row groups of a calls file holding any of `genomes` (its genome ids only read)."""
    wanted = set(genomes)
    file = pq.ParquetFile(calls)
    return [
        group
        for group in range(file.num_row_groups)
        if wanted.intersection(file.read_row_group(group, columns=["genome_id"])[0].to_pylist())
    ]


def _change_rows(spark: Any, units: list[tuple[Any, ...]], samples: pa.Table) -> tuple[Any, Any]:
    """The tasks' rows (batch_id, variant, cell, measures; cell LISTED for listings),
    cached: the listings are read twice; and the broadcast of genome cells they use (to be
    destroyed once the rows are used: it names genomes)."""
    unit_frame = spark.createDataFrame(units, UNIT_SCHEMA).repartition(max(1, len(units)))
    cells = spark.sparkContext.broadcast(_column_map(samples, "genome_id", "cell"))
    schema = f"batch_id string, {VARIANT_SCHEMA}, cell int, {MEASURES_SCHEMA}"

    def sums_of(parts: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for part in parts:
            for unit in part.to_pylist():
                yield from _unit_sums(unit, cells.value)

    return unit_frame.mapInArrow(sums_of, schema).cache(), cells


def _listed(rows: Any) -> Any:
    """(batch_id, variant) of every variant a changed batch starts or stops listing."""
    from pyspark.sql import functions as F

    return rows.where(F.col("cell") == LISTED).select("batch_id", *VARIANT)


def _known(spark: Any, chunks: Chunks) -> Any:
    """The aggregate's variants as a Spark frame (read from its chunk files by the executors)."""
    paths = [str(p) for p in chunks.paths()]
    if not paths:
        return spark.createDataFrame([], VARIANT_SCHEMA)
    return spark.read.parquet(*paths).select(*VARIANT)


def _updated(
    spark: Any,
    rows: Any,
    block_sums: Sequence[Any | None],
    previous: Chunks,
    generation: int,
    *,
    sign: int,
    broadcast: Any,
) -> Chunks:
    """`previous` with a change applied chunk by chunk on the executors (`sign` +1 adds it,
    -1 takes it away): the change rows (listings, and measure sums per variant and cell) are
    grouped by chunk, and each chunk's executor rewrites its file (``_rewrite_chunk``).
    `broadcast`, the rows' genome cells, is destroyed afterwards, whatever happens."""
    from pyspark.sql import functions as F

    change = rows.drop("batch_id")
    for extra in block_sums:
        if extra is not None:
            change = change.unionByName(extra)
    ranks = spark.createDataFrame(list(CONTIG_RANK.items()), "chrom string, rank long")
    rank = F.coalesce(F.col("rank"), F.lit(len(CONTIG_RANK)).cast("long"))  # contig_rank()
    chunked = change.join(F.broadcast(ranks), "chrom", "left").withColumn(
        "chunk", F.shiftright(F.shiftleft(rank, 32) + F.col("pos"), previous.bits)
    )
    previous.folder.mkdir(parents=True, exist_ok=True)
    files = spark.sparkContext.broadcast(previous.files)
    folder, bits = str(previous.folder), previous.bits

    def rewrite(key: tuple[Any, ...], table: pa.Table) -> pa.Table:
        number = int(key[0].as_py())
        name = files.value.get(number)
        return _rewrite_chunk(Path(folder), name, number, bits, generation, table, sign)

    try:
        grouped = chunked.drop("rank").groupBy("chunk")
        result = grouped.applyInArrow(rewrite, CHUNK_ROW_SCHEMA).toArrow()
    finally:
        rows.unpersist()
        for shared in (files, broadcast):
            shared.destroy()
    errors = [e for e in result.column("error").to_pylist() if e is not None]
    if errors:
        raise MedfollowError(errors[0])
    return previous.replaced(result.drop_columns(["error"]).to_pylist())


def _rewrite_chunk(
    folder: Path,
    name: str | None,
    number: int,
    bits: int,
    generation: int,
    change: pa.Table,
    sign: int,
) -> pa.Table:
    """On an executor: one chunk after the change, written as `generation`'s file, and its
    manifest row (no file when no variant is left; an error instead of raising, so that the
    driver can refuse in one line)."""
    row: dict[str, Any] = {"chunk": number, "file": None, "variants": 0}
    row |= {"digest": None, "error": None}
    try:
        before = Aggregate.empty() if name is None else read_chunk(folder / name)
        after = applied(before, change, sign)
    except MedfollowError as exc:
        row["error"] = str(exc)
        return pa.Table.from_pylist([row], schema=CHUNK_ROW)
    if len(after):
        row["file"] = chunk_file(number, bits, generation)
        write_chunk(folder / row["file"], after)
        row["variants"], row["digest"] = len(after), chunk_digest(after)
    return pa.Table.from_pylist([row], schema=CHUNK_ROW)


def _column_map(table: pa.Table, key: str, value: str) -> dict[str, int]:
    return dict(zip(table.column(key).to_pylist(), table.column(value).to_pylist(), strict=True))


def _unit_sums(unit: dict[str, Any], cells: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """What one row group changes, per (variant, cell) it touches. At the variants its batch
    starts or stops listing (all it lists, unless `still_listed` names the sites file of
    those it keeps) every genome's codes count; elsewhere only those of `genomes` (every
    genome when None). The unit marked `lists` also gives one LISTED row per variant its
    batch starts or stops listing."""
    sites = pq.read_table(unit["sites"])
    calls = pq.ParquetFile(unit["calls"]).read_row_group(unit["row_group"])
    codes = binary_to_codes(calls.column("codes"), sites.num_rows)
    ids = np.asarray(calls.column("genome_id").to_pylist(), dtype=str)
    sample_cells = np.array([cells[g] for g in ids.tolist()], dtype=np.int64)
    covered = unit["kind"] != UNKNOWN_COVERAGE_KIND
    changing = _changing(sites, unit["still_listed"])
    if unit["genomes"] is None:
        sums = measure_sums(codes, sample_cells, covered=covered)
    else:
        named = np.isin(ids, np.asarray(unit["genomes"], dtype=str))
        sums = measure_sums(codes[:, named], sample_cells[named], covered=covered)
        at, others = np.flatnonzero(changing), np.flatnonzero(~named)
        if len(at) and len(others):
            sums[at] += measure_sums(
                codes[np.ix_(at, others)], sample_cells[others], covered=covered
            )
    site, cell = np.nonzero(sums.any(axis=2))
    yield _rows(unit["batch_id"], sites.take(pa.array(site)), cell, sums[site, cell])
    if unit["lists"]:
        at = np.flatnonzero(changing)
        zeros = np.zeros((len(at), N_MEASURES), dtype=np.int64)
        yield _rows(unit["batch_id"], sites.take(pa.array(at)), np.full(len(at), LISTED), zeros)


def _changing(sites: pa.Table, still_listed: str | None) -> np.ndarray:
    """Which of a batch's sites it starts or stops listing: all, unless `still_listed` names
    the sites file of the batch that replaces it (those are kept)."""
    if still_listed is None:
        return np.ones(sites.num_rows, bool)
    kept = Sites.from_arrow(pq.read_table(still_listed)).ids
    return ~np.isin(Sites.from_arrow(sites).ids, kept)


def _rows(batch_id: str, sites: pa.Table, cell: np.ndarray, sums: np.ndarray) -> pa.RecordBatch:
    n = sites.num_rows
    columns: dict[str, pa.Array] = {
        "batch_id": pa.repeat(batch_id, n),
        **{name: sites.column(name).combine_chunks() for name in VARIANT},
        "cell": pa.array(cell.astype(np.int32)),
    }
    for i, name in enumerate(MEASURE_COLUMNS):
        columns[name] = pa.array(sums[:, i].astype(np.int64))
    return pa.RecordBatch.from_pydict(columns)


def _block_sums(
    spark: Any,
    store: Store,
    batch_ids: Sequence[str],
    block_cells: Mapping[str, int],
    variants: Any,
    listed: Any,
) -> Any | None:
    """Rows (variant, cell, measures) that the blocks of `batch_ids` add at `variants`, by
    the rule of ``block_codes_at``: for each block sample and each variant its own file does
    not list, the block starting last at or before the position (of equal starts, the last
    in the file), counted if it reaches the position and its code is a call.

    An as-of join: per sample and contig, block starts and variant positions in one sorted
    stream, each variant taking the last block before it (a window over the partition), so
    the work is a sort of the sample's blocks and the variants, not blocks x variants."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not batch_ids:
        return None
    batch_cells = spark.createDataFrame(
        [(b, block_cells[b]) for b in batch_ids], "batch_id string, cell int"
    )
    paths = [str(store.blocks_file(b)) for b in batch_ids]
    blocks = (
        spark.read.parquet(*paths)
        .withColumn("batch_id", F.regexp_extract(F.input_file_name(), BATCH_OF_BLOCKS_FILE, 1))
        .select(
            "batch_id",
            "chrom",
            F.col("start").alias("pos"),
            F.lit(0).alias("order"),  # a block starting at a variant's position covers it
            F.monotonically_increasing_id().alias("ordinal"),  # file order, for equal starts
            F.col("end"),
            F.col("code").cast("int").alias("code"),
            *(F.lit(None).cast("string").alias(c) for c in ("ref", "alt")),
        )
    )
    asked = (
        variants.crossJoin(batch_cells.select("batch_id"))
        .join(listed, ["batch_id", *VARIANT], "left_anti")  # its own records speak there
        .select(
            "batch_id",
            "chrom",
            "pos",
            F.lit(1).alias("order"),
            F.lit(None).cast("long").alias("ordinal"),
            F.lit(None).cast("long").alias("end"),
            F.lit(None).cast("int").alias("code"),
            "ref",
            "alt",
        )
    )
    before = (
        Window.partitionBy("batch_id", "chrom")
        .orderBy("pos", "order", "ordinal")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    chosen = (
        blocks.unionByName(asked)
        .withColumn("block_end", F.last("end", ignorenulls=True).over(before))
        .withColumn("block_code", F.last("code", ignorenulls=True).over(before))
        .where(
            (F.col("order") == 1)
            & (F.col("block_end") >= F.col("pos"))
            & (F.col("block_code") != 0)
        )
        .select("batch_id", *VARIANT, F.col("block_code").alias("code"))
    )
    lut = spark.createDataFrame(
        [(code, *map(int, LUT[code])) for code in range(len(LUT))],
        f"code int, {MEASURES_SCHEMA}",
    )
    return (
        chosen.join(batch_cells, "batch_id")
        .join(F.broadcast(lut), "code")
        .select(*VARIANT, "cell", *MEASURE_COLUMNS)
    )
