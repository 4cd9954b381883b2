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
The driver collects the sums into an ``Aggregate`` in genome order, equal to
``recompute(store)`` and so giving the same release.

Where it runs: ``master`` if given, else ``$MEDFOLLOW_SPARK_MASTER``, else the master that
``spark-submit`` configured, else ``local[*]``. On a cluster the store must lie on storage
every executor can read (the shared root).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genomics_variants.contributions.aggregate import (
    BLOCK_KINDS,
    UNKNOWN_COVERAGE_KIND,
    Aggregate,
)
from genomics_variants.contributions.measures import LUT, N_MEASURES, measure_sums
from genomics_variants.contributions.store import Store, binary_to_codes
from genomics_variants.sites import Sites

MASTER_ENV = "MEDFOLLOW_SPARK_MASTER"
BATCH_OF_BLOCKS_FILE = r"/contributions/batch=([^/]+)/blocks\.parquet$"
VARIANT = ["chrom", "pos", "ref", "alt"]
MEASURE_COLUMNS = [f"m{i}" for i in range(N_MEASURES)]
BATCH_FIELDS = ("batch_id", "kind", "calls_file")
VARIANT_SCHEMA = "chrom string, pos long, ref string, alt string"
MEASURES_SCHEMA = ", ".join(f"{m} long" for m in MEASURE_COLUMNS)
LISTED = -1
"""The cell of a row that only says its batch lists the variant."""


def spark_session(master: str | None = None, *, partitions: int = 8) -> Any:
    """A Spark session for the aggregation (see the module's docstring for the master)."""
    with warnings.catch_warnings():
        # pyspark 4.3 warns on import that it does not yet fully support pandas 3; nothing
        # here goes through pandas (Arrow both ways)
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("medfollow-variants")
        .config("spark.sql.shuffle.partitions", str(partitions))
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
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
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


def spark_aggregate(store: Store, spark: Any) -> Aggregate:
    """The aggregate of every sample stored in `store`'s current generation, computed by
    Spark; equal to ``recompute(store)``."""
    state = store.load()
    batches = [StoredBatch(**b) for b in state.batches.select(list(BATCH_FIELDS)).to_pylist()]
    return spark_add(store, spark, Aggregate.empty(), batches, samples=state.samples, residents=())


def spark_add(
    store: Store,
    spark: Any,
    previous: Aggregate,
    new: Sequence[StoredBatch],
    *,
    samples: pa.Table,
    residents: Sequence[str],
) -> Aggregate:
    """`previous` with the batches `new` (their files written) added, as ``add()`` does:
    the new batches' calls at the variants they list, their blocks (if any) at every
    variant, and the blocks of the stored block samples `residents` at the variants no
    stored batch listed before. Reads only those batches' files: the work follows the
    change, not the store. `samples`: genome_id, batch_id and cell of (at least) the genomes
    of the new and the resident batches."""
    from pyspark.sql import functions as F

    if not new:
        return previous
    units = [
        (
            b.batch_id,
            b.kind,
            str(store.batch_dir(b.batch_id) / "sites.parquet"),
            str(store.batch_dir(b.batch_id) / b.calls_file),
            group,
        )
        for b in new
        for group in range(
            pq.ParquetFile(store.batch_dir(b.batch_id) / b.calls_file).num_row_groups
        )
    ]
    unit_frame = spark.createDataFrame(
        units, "batch_id string, kind string, sites string, calls string, row_group int"
    ).repartition(max(1, len(units)))
    cells = spark.sparkContext.broadcast(_column_map(samples, "genome_id", "cell"))
    block_cells = _column_map(samples, "batch_id", "cell")  # a block batch holds one genome
    schema = f"batch_id string, {VARIANT_SCHEMA}, cell int, {MEASURES_SCHEMA}"

    def sums_of(parts: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for part in parts:
            for unit in part.to_pylist():
                yield from _unit_sums(unit, cells.value)

    rows = unit_frame.mapInArrow(sums_of, schema).cache()
    listed = rows.where(F.col("cell") == LISTED).select("batch_id", *VARIANT)
    direct = rows.where(F.col("cell") != LISTED).drop("batch_id")
    new_variants = listed.select(*VARIANT).distinct()
    known = spark.createDataFrame(pa.table(previous.sites.to_arrow()))
    block_sums = [
        _block_sums(
            spark,
            store,
            [b.batch_id for b in new if b.kind in BLOCK_KINDS],
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
    summed = direct
    for extra in block_sums:
        if extra is not None:
            summed = summed.unionByName(extra)
    sums = (
        summed.groupBy(*VARIANT, "cell")
        .agg(*(F.sum(m).alias(m) for m in MEASURE_COLUMNS))
        .toArrow()
    )
    listed_by = listed.groupBy(*VARIANT).agg(F.count("*").alias("listed_by")).toArrow()
    rows.unpersist()
    return _added(previous, listed_by, sums)


def _column_map(table: pa.Table, key: str, value: str) -> dict[str, int]:
    return dict(zip(table.column(key).to_pylist(), table.column(value).to_pylist(), strict=True))


def _unit_sums(unit: dict[str, Any], cells: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """One row group's measure sums per (variant, cell) that it touches; with the first row
    group of a batch, also one LISTED row per variant the batch lists."""
    sites = pq.read_table(unit["sites"])
    calls = pq.ParquetFile(unit["calls"]).read_row_group(unit["row_group"])
    codes = binary_to_codes(calls.column("codes"), sites.num_rows)
    sample_cells = np.array([cells[g] for g in calls.column("genome_id").to_pylist()])
    sums = measure_sums(codes, sample_cells, covered=unit["kind"] != UNKNOWN_COVERAGE_KIND)
    site, cell = np.nonzero(sums.any(axis=2))
    yield _rows(unit["batch_id"], sites.take(pa.array(site)), cell, sums[site, cell])
    if unit["row_group"] == 0:
        zeros = np.zeros((sites.num_rows, N_MEASURES), dtype=np.int64)
        yield _rows(unit["batch_id"], sites, np.full(sites.num_rows, LISTED), zeros)


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
    paths = [str(store.batch_dir(b) / "blocks.parquet") for b in batch_ids]
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


def _added(previous: Aggregate, listed_by: pa.Table, sums: pa.Table) -> Aggregate:
    """`previous` grown by the collected rows: new variants get rows, counts and listings
    are added where they fall (the driver's part, as in ``add()``)."""
    variants = Sites.from_arrow(listed_by)
    grown, _ = previous.with_sites(variants)
    counts, listed = grown.counts.copy(), grown.listed_by.copy()
    rows = grown.locate(variants)
    np.add.at(listed, rows, listed_by.column("listed_by").to_numpy().astype(np.int32))
    if sums.num_rows:
        at = grown.locate(Sites.from_arrow(sums))
        cell = sums.column("cell").to_numpy()
        values = np.stack([sums.column(m).to_numpy() for m in MEASURE_COLUMNS], axis=1)
        np.add.at(counts, (at, cell), values.astype(np.int32))
    return Aggregate(grown.sites, listed, counts)
