"""Exports: a sites-only VCF that bcftools reads, Parquet and TSV."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.export import export_release
from genomics_variants.frequencies.release import Release, write_release
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key


@pytest.fixture(scope="module")
def release(delivery: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Release:
    store = Store(tmp_path_factory.mktemp("export") / "store")
    state = ingest_files(store, [delivery], reference, key=load_key(), workers=2).state
    return write_release(store, state)


def test_vcf_is_read_by_bcftools(release: Release, bcftools: str, tmp_path: Path) -> None:
    out = export_release(release, "vcf", tmp_path / "sites.vcf.gz")
    assert Path(f"{out}.tbi").exists()
    query = subprocess.run(
        [
            bcftools,
            "query",
            "-f",
            "%ID\t%AC\t%AN\t%AF\t%nhomalt\t%AC_XX\t%AC_XY\t%AN_hovedstaden\t%FILTER\n",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    table = pq.read_table(release.frequencies)
    rows = {r["variant_id"]: r for r in table.to_pylist()}
    assert len(query) == table.num_rows
    for line in query:
        vid, ac, an, af, hom, ac_xx, ac_xy, an_h, flt = line.split("\t")
        row = rows[vid]
        assert (int(ac), int(an), int(hom), int(ac_xx), int(ac_xy), int(an_h)) == (
            row["ac"],
            row["an"],
            row["nhomalt"],
            row["ac_XX"],
            row["ac_XY"],
            row["an_hovedstaden"],
        )
        assert (
            af == "."
            if row["af"] is None
            else abs(float(af) - row["af"]) <= 1e-5 * max(row["af"], 1e-3)
        )
        assert flt == ("PASS" if row["ac"] > 0 else "AC0")
    region = subprocess.run(
        [bcftools, "view", "-H", "-r", "chr17:43000000-43100000", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert region.count("\n") > 10


def test_parquet_and_tsv(release: Release, tmp_path: Path) -> None:
    parquet = export_release(release, "parquet", tmp_path / "f.parquet")
    assert pq.read_table(parquet).equals(pq.read_table(release.frequencies))
    tsv = export_release(release, "tsv", tmp_path / "f.tsv")
    table = pacsv.read_csv(tsv, parse_options=pacsv.ParseOptions(delimiter="\t"))
    assert table.num_rows == release.meta["variant_count"] and "ac_XX" in table.column_names
    with pytest.raises(MedfollowError):
        export_release(release, "vcf", tmp_path / "plain.vcf")
    with pytest.raises(MedfollowError):
        export_release(release, "bed", tmp_path / "x.bed")
