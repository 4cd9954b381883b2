"""Writing a release in bounded memory changes no byte: variant ids joined by Arrow equal
numpy's, and the served layout written a few blocks per pass equals one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from genomics_variants.contributions.cells import N_CELLS
from genomics_variants.contributions.measures import N_MEASURES, M
from genomics_variants.frequencies import served
from genomics_variants.frequencies.release import frequencies_of
from genomics_variants.frequencies.strata import (
    RATIO_COLUMNS,
)
from genomics_variants.sites import Sites, arrow_ids


@pytest.mark.parametrize(
    "chrom,ref,alt",
    [
        ("chr1", "A", "C"),
        ("chr1", "Å", "ÆØ"),  # non-ASCII
        ("chrUn_KI270302v1", "N" * 5000, "A"),
        ("chr1", "A\x00", "C"),  # numpy strips trailing NUL: both sides alike
    ],
)
def test_variant_ids_equal_numpy_ids(chrom: str, ref: str, alt: str) -> None:
    sites = Sites.build([chrom, "chrX"], [12, 2**40], [ref, "G"], [alt, "T"])
    assert arrow_ids(sites.to_arrow()).equals(pa.array(sites.ids, pa.string()))


def _counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random (variants, cells, measures) counts, every variant observed somewhere."""
    counts = rng.integers(0, 40, size=(n, N_CELLS, N_MEASURES), dtype=np.int32)
    counts[..., M["ac"]] = np.maximum(counts[..., M["ac"]], 1)
    counts[..., M["an"]] = np.maximum(counts[..., M["an"]], counts[..., M["ac"]])
    return counts


def _release_table(rows: int, wide: bool = False) -> pa.Table:
    rng = np.random.default_rng(rows)
    sites = Sites.build(["chr1"] * rows, np.arange(1, rows + 1) * 3, ["A"] * rows, ["C"] * rows)
    counts = _counts(rng, rows)
    table = frequencies_of(sites, counts)
    if wide:
        table = table.append_column("big", pa.array(np.arange(rows, dtype=np.int64) + 2**40))
    return table


def _files(folder: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob(f"{name}.*"))}


@pytest.mark.parametrize("per_pass", [1, 2, 3, 256])
@pytest.mark.parametrize("rows", [0, 1, 63, 64, 65, 128, 191, 192, 193, 640, 1000])
@pytest.mark.parametrize("wide", [False, True])
def test_write_table_in_passes_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_pass: int, rows: int, wide: bool
) -> None:
    table = _release_table(rows, wide)
    layout_args = dict(chrom="chrom", pos="pos", ratios=RATIO_COLUMNS)
    monkeypatch.setattr(served, "BLOCKS_PER_PASS", per_pass)
    n_new = served.write_table(tmp_path / "new", "frequencies", table, **layout_args)
    # before: one chunk, the whole table
    bounds = np.iinfo(np.int32)
    ranges = [
        pa.compute.min_max(table.column(f.name)).as_py()
        for f in table.schema
        if pa.types.is_integer(f.type) and f.name not in ("chrom", "pos")
    ]
    is_wide = any(
        r["min"] is not None and not bounds.min <= r["min"] <= r["max"] <= bounds.max
        for r in ranges
    )
    layout = served.layout_of(
        table.schema, "chrom", "pos", "int64" if is_wide else "int32", RATIO_COLUMNS
    )
    n_old = served.write_served(tmp_path / "old", "frequencies", [table], layout)
    assert n_new == n_old == rows
    assert is_wide == (wide and rows > 0)
    assert _files(tmp_path / "new", "frequencies") == _files(tmp_path / "old", "frequencies")


def test_write_table_coverage_like_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = 64 * 5 + 17
    table = pa.table(
        {
            "chrom": pa.array(["chr2"] * rows),
            "pos": pa.array(np.arange(rows, dtype=np.int64) * 100 + 1),
            "mean": pa.array(np.linspace(0, 30, rows)),
            "over_10": pa.array(
                np.where(np.arange(rows) % 3 == 0, np.nan, 0.5), mask=np.arange(rows) % 3 == 0
            ),
            "n": pa.array(np.arange(rows, dtype=np.int32)),
        }
    )
    monkeypatch.setattr(served, "BLOCKS_PER_PASS", 2)
    served.write_table(tmp_path / "new", "coverage", table, "chrom", "pos")
    layout = served.layout_of(table.schema, "chrom", "pos", "int32")
    served.write_served(tmp_path / "old", "coverage", [table], layout)
    assert _files(tmp_path / "new", "coverage") == _files(tmp_path / "old", "coverage")


@pytest.mark.parametrize("per_pass", [1, 3])
def test_write_table_multi_chunk_many_contigs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_pass: int
) -> None:
    """As ensure_served passes it: a table read from Parquet, chunks not on block edges,
    contigs changing inside chunks and passes."""
    rng = np.random.default_rng(3)
    n = 1500
    chrom = np.repeat(["chr1", "chr2", "chr10", "chrX", "chrY"], n // 5)
    pos = np.concatenate(
        [np.sort(rng.choice(3_000_000, n // 5, replace=False)) + 1 for _ in range(5)]
    )
    sites = Sites.build(chrom, pos, ["A"] * n, rng.choice(["C", "GT", "TTTT"], n))
    counts = _counts(rng, n)
    table = frequencies_of(sites, counts)
    pieces = [table.slice(s, 97) for s in range(0, table.num_rows, 97)]
    import pyarrow.parquet as pq

    pq.write_table(pa.concat_tables(pieces), tmp_path / "f.parquet", row_group_size=333)
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.column("chrom").num_chunks > 1
    monkeypatch.setattr(served, "BLOCKS_PER_PASS", per_pass)
    served.write_table(tmp_path / "new", "frequencies", table, "chrom", "pos", 64, RATIO_COLUMNS)
    layout = served.layout_of(table.schema, "chrom", "pos", "int32", RATIO_COLUMNS)
    served.write_served(tmp_path / "old", "frequencies", [table], layout)
    assert _files(tmp_path / "new", "frequencies") == _files(tmp_path / "old", "frequencies")
