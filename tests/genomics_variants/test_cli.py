"""`medfollow variants` commands, end to end on a small delivery (no warehouse)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.chunks import read_chunk, write_chunk
from genomics_variants.contributions.store import Store
from medfollow.cli.variants import app
from medfollow_core.errors import MedfollowError
from support.cli import flat, listed_commands, names, show_help
from support.variants import java_runs_spark

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_commands(
    delivery: Path,
    reference: Path,
    manifest_rows: list[dict[str, str]],
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "store")
    out = _run(
        "ingest", str(delivery), "--reference", str(reference), "--store", store, "--no-warehouse"
    )
    assert "release r00001: 40 genomes" in out and "opt-outs not checked" in out

    listing = _run("export", "--format", "tsv", "--out", str(tmp_path / "f.tsv"), "--store", store)
    assert "r00001" in listing
    variant = (tmp_path / "f.tsv").read_text().splitlines()[1].split("\t")[0]
    chrom, pos, ref, alt = variant.split("-")
    shown = json.loads(
        _run("lookup", f"{chrom}:{pos} {ref}>{alt}", "--format", "json", "--store", store)
    )
    assert shown["variant_id"] == variant and "all" in shown["frequencies"]
    assert "stratum" in _run("lookup", variant, "--store", store)
    anonymous = json.loads(
        _run("lookup", variant, "--format", "json", "--tier", "anonymous", "--store", store)
    )
    assert "frequencies" not in anonymous
    assert variant in _run("lookup", f"{chrom}:{int(pos) - 5}-{int(pos) + 5}", "--store", store)
    # a variant nobody carries: absent where genomes of known coverage are callable...
    covered = pq.read_table(next(Path(store).glob("releases/r*/coverage.parquet"))).to_pylist()[0]
    absent = _run("lookup", f"{covered['chrom']}-{covered['start']}-N-A", "--store", store)
    assert f"absent: AN {covered['an']}" in absent
    assert "not covered" in _run("lookup", "chr1-1000-A-C", "--store", store)  # ...else unknown
    _run("export", "--format", "vcf", "--out", str(tmp_path / "sites.vcf.gz"), "--store", store)
    assert (tmp_path / "sites.vcf.gz.tbi").exists()

    token = _run("token", "add", "lab", "--tier", "registered", "--budget", "10", "--store", store)
    assert "mfv_" in token and "lab" in _run("token", "list", "--store", store)
    _run("token", "revoke", "lab", "--store", store)

    on_spark = ["--spark"] if java_runs_spark() else []  # make reference-tools installs Java 17
    removed = _run(
        "remove", person_key(manifest_rows[0]["cpr"]), "--store", store, "--no-warehouse", *on_spark
    )
    # a removal publishes at once, masked by 19 withheld genomes (release discipline)
    assert "removed 1 genome" in removed and "release r00002: 20 genomes" in removed
    assert "19 other genome(s) withheld" in removed
    assert "equals a full recomputation" in _run("verify", "--store", store)
    if on_spark:
        assert "equals a full recomputation on Spark" in _run("verify", "--spark", "--store", store)
    listed = _run("releases", "--store", store)
    assert "r00002" in listed and "r00001" not in listed  # the older release is deleted

    # a chunk file of the aggregate damaged, then lost: verify reads the files themselves
    chunks = Store(Path(store)).load().chunks
    path = chunks.folder / next(iter(chunks.files.values()))
    part = read_chunk(path)
    write_chunk(path, Aggregate(part.sites, part.listed_by, part.counts + 1))
    result = runner.invoke(app, ["verify", "--store", store])
    assert isinstance(result.exception, MedfollowError)
    assert "differ from what its manifest records" in str(result.exception)
    path.unlink()
    result = runner.invoke(app, ["verify", "--store", store])
    assert isinstance(result.exception, MedfollowError)
    assert "is missing or damaged" in str(result.exception)


def test_expected_failures_are_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lookup", "BRCA1", "--store", str(tmp_path)])
    assert isinstance(result.exception, MedfollowError)
    result = runner.invoke(app, ["lookup", "17-1-A-C", "--store", str(tmp_path / "empty")])
    assert isinstance(result.exception, MedfollowError) and "no release" in str(result.exception)


def test_remove_refuses_cpr_numbers(manifest_rows: list[dict[str, str]], tmp_path: Path) -> None:
    cpr = manifest_rows[0]["cpr"]
    result = runner.invoke(app, ["remove", cpr, "--store", str(tmp_path), "--no-warehouse"])
    assert isinstance(result.exception, MedfollowError)
    assert "looks like a CPR number" in str(result.exception) and cpr not in str(result.exception)


# Each `medfollow variants` command: phrases of its own docstring, and the arguments,
# options or subcommands its own --help must name.
COMMANDS: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("ingest",): (
        ("Add genomes: normalise, QC, count, and publish a new release", "never implies hom-ref"),
        ("files", "--reference", "--samples", "--store", "--qc", "--warehouse", "--workers"),
    ),
    ("remove",): (
        ("Remove persons' genomes exactly",),
        ("person_keys", "--store", "--dsn", "--warehouse", "--spark"),
    ),
    ("sync-optouts",): (
        ("Remove every stored person with an opt-out",),
        ("--store", "--on", "--spark"),
    ),
    ("lookup",): (
        ("Frequencies of a variant",),
        ("query", "--format", "--tier", "--reference", "--store"),
    ),
    ("export",): (("Export the current release",), ("--out", "--format", "--store")),
    ("releases",): (("List releases on disk",), ("--store",)),
    ("verify",): (("Recompute the aggregate from the stored contributions",), ("--store",)),
    ("serve",): (("Serve the Beacon v2",), ("--port", "--host", "--workers", "--store")),
    ("token",): (("API tokens for registered and controlled users",), ("add", "list", "revoke")),
    ("token", "add"): (("printed once and stored only as a hash",), ("name", "--tier", "--budget")),
    ("token", "list"): (("never the tokens",), ("--store",)),
    ("token", "revoke"): (("Revoke a token by name",), ("name", "--store")),
}


def test_help_lists_exactly_the_commands() -> None:
    top = {path[0] for path in COMMANDS}
    assert sorted(listed_commands(show_help(app))) == sorted(top)
    assert sorted(listed_commands(show_help(app, "token"))) == ["add", "list", "revoke"]


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_each_command_has_its_own_help(path: tuple[str, ...]) -> None:
    phrases, items = COMMANDS[path]
    out = show_help(app, *path)
    assert all(phrase in flat(out) for phrase in phrases), flat(out)
    missing = [item for item in items if not names(out, item)]
    assert not missing, f"`medfollow variants {' '.join(path)} --help` does not name {missing}"
