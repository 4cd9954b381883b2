"""An opt-out removal leaves nothing: every kept artefact of a store that held the persons
(contributions, state, releases, exports, the warehouse table) equals that of a store
that never held them (real PostgreSQL)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.aggregate import BLOCK_KINDS
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.export import export_release
from genomics_variants.frequencies.postgres import coverage_rows, long_table
from genomics_variants.frequencies.release import GENOMES_FILE, Release, list_releases
from genomics_variants.pipeline import ingest, sync_optouts
from support.variants import assert_same_aggregate

pytestmark = pytest.mark.integration
TODAY = date(2026, 6, 1)
EXPORTS = (("tsv", "f.tsv"), ("vcf", "f.vcf.gz"), ("parquet", "f.parquet"))


@pytest.fixture(scope="module")
def url(db_url: str) -> str:
    """A warehouse with an (empty) opt-out register, as the registry ingest creates it."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create table raw.optout__registreringer (person_key text, register text, "
            "gyldig_fra date, gyldig_til date, _delivery_id text, _row_number bigint, "
            "_loaded_at timestamptz default now())"
        )
    return db_url


def _files(delivery: Path) -> tuple[Path, list[Path]]:
    return delivery / "joint" / "cohort.vcf.gz", sorted((delivery / "per_sample").glob("*.gz"))


def _most_private(store: Store) -> str:
    """The jointly called genome carrying most variants nobody else in its batch carries."""
    state = store.load()
    batch = state.batches.filter(pa.compute.equal(state.batches.column("kind"), "joint"))
    row = batch.to_pylist()[0]
    ids, codes = store.batch_calls(row["batch_id"], row["calls_file"], row["n_sites"])
    carriers = (codes >> 4) > 0
    private = carriers & (carriers.sum(axis=1, keepdims=True) == 1)
    return ids[int(np.argmax(private.sum(axis=0)))]


def _batches(store: Store) -> dict[str, tuple[object, ...]]:
    """file name -> (kind, sites, genome ids, codes, blocks) of every stored batch."""
    state = store.load()
    out = {}
    for row in state.batches.to_pylist():
        sites = store.batch_sites(row["batch_id"])
        ids, codes = store.batch_calls(row["batch_id"], row["calls_file"], len(sites))
        folder = store.batch_dir(row["batch_id"])
        blocks = pq.read_table(folder / "blocks.parquet") if row["kind"] in BLOCK_KINDS else None
        out[row["file_name"]] = (row["kind"], sites.ids.tolist(), ids, codes.tolist(), blocks)
    return out


def _vcf_body(path: Path) -> list[str]:
    return [line for line in gzip.open(path, "rt") if not line.startswith("##source")]


def _warehouse_rows(url: str, table: str) -> list[tuple[object, ...]]:
    """Rows of variants.<table> without release_id, checking they are the current release's
    and that no other release is left."""
    with psycopg.connect(url) as conn:
        releases = conn.execute("select release_id, is_current from variants.releases").fetchall()
        assert len(releases) == 1 and releases[0][1]  # the older release is gone
        rows = conn.execute(f"select * from variants.{table}").fetchall()
    assert {r[0] for r in rows} == {releases[0][0]}
    return [r[1:] for r in rows]


def _leaks(root: Path, secrets: set[str]) -> list[str]:
    """Files under `root` that mention any of `secrets` (Parquet decoded, the rest as text)."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name == ".lock":
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = " ".join(
                str(v)
                for name in table.column_names
                if pa.types.is_string(table.schema.field(name).type)
                for v in table.column(name).to_pylist()
            )
        else:
            text = path.read_bytes().decode("latin-1")
        if any(s in text for s in secrets):
            found.append(str(path.relative_to(root)))
    return found


def test_removal_leaves_nothing_a_fresh_store_would_not_hold(
    url: str,
    delivery: Path,
    reference: Path,
    manifest_rows: list[dict[str, str]],
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    joint, per_sample = _files(delivery)
    held = Store(tmp_path / "held")
    args = {"warehouse_url": url, "on": TODAY, "workers": 2}
    ingest(held.root, [joint], reference, **args)
    export_release(list_releases(held)[-1], "tsv", tmp_path / "held" / EXPORTS[0][1])
    _, second = ingest(held.root, per_sample, reference, min_change=1, **args)
    assert second.release is not None and len(list_releases(held)) == 2
    for fmt, name in EXPORTS[1:]:
        export_release(second.release, fmt, tmp_path / "held" / name)

    genome_of = {r["genome_id"]: r for r in manifest_rows}
    plain = next(p for p in per_sample if not p.name.endswith(".g.vcf.gz"))
    gvcf = next(p for p in per_sample if p.name.endswith(".g.vcf.gz"))
    gone = [_most_private(held), gvcf.name.split(".")[0], plain.name.split(".")[0]]
    keys = {person_key(genome_of[g]["cpr"]) for g in gone}
    with psycopg.connect(url, autocommit=True) as conn:
        for key in keys:
            conn.execute(
                "insert into raw.optout__registreringer (person_key, register, gyldig_fra, "
                "_delivery_id, _row_number) values (%s, 'genetik', %s, 'optout-1', 1)",
                (key, TODAY),
            )
    removal, published = sync_optouts(held.root, url, on=TODAY, min_change=1)
    assert removal.genomes == 3 and published.release is not None

    fresh = Store(tmp_path / "fresh")
    ingest(fresh.root, [joint], reference, exclude_persons=keys, workers=2)
    _, made = ingest(fresh.root, per_sample, reference, exclude_persons=keys, min_change=1)
    assert made.release is not None

    # contributions and state
    assert _batches(held) == _batches(fresh)
    a, b = held.load(), fresh.load()
    columns = ["genome_id", "person_key", "sex", "region", "cell"]
    assert a.samples.select(columns).sort_by("genome_id") == b.samples.select(columns).sort_by(
        "genome_id"
    )
    assert_same_aggregate(a.aggregate, b.aggregate)

    # releases: only the new one is kept, equal to the fresh store's
    kept: list[Release] = list_releases(held)
    assert [r.release_id for r in kept] == [published.release.release_id]
    for name in ("frequencies.parquet", "coverage.parquet", GENOMES_FILE):
        theirs = pq.read_table(made.release.folder / name)
        assert pq.read_table(kept[0].folder / name).sort_by(theirs.column_names[0]) == (
            theirs.sort_by(theirs.column_names[0])
        ), name
    assert kept[0].meta["samples_by_stratum"] == made.release.meta["samples_by_stratum"]

    # exports made before the removal are rewritten without the persons
    for fmt, name in EXPORTS:
        theirs = export_release(made.release, fmt, tmp_path / "fresh" / name)
        ours = tmp_path / "held" / name
        if fmt == "vcf":
            assert _vcf_body(ours) == _vcf_body(theirs)
        elif fmt == "parquet":
            assert pq.read_table(ours) == pq.read_table(theirs)
        else:
            assert ours.read_bytes() == theirs.read_bytes()

    # the warehouse table holds the new release only, equal to the fresh store's
    table = pq.read_table(made.release.frequencies)
    expected = sorted(
        tuple(r.values())[1:] for r in long_table(made.release.release_id, table).to_pylist()
    )
    assert sorted(_warehouse_rows(url, "frequencies")) == expected
    coverage = coverage_rows(made.release.release_id, pq.read_table(made.release.coverage))
    assert sorted(_warehouse_rows(url, "coverage")) == sorted(
        tuple(r.values())[1:] for r in coverage.to_pylist()
    )

    # and no file of the store names them
    assert _leaks(held.root, set(gone) | keys) == []
