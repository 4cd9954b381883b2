"""Ingest: manifest rules, one genome per person, delivery folders, and no CPR anywhere."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.ingest import expand_inputs, ingest_files
from genomics_variants.contributions.manifest import read_manifest
from genomics_variants.contributions.store import FORMAT_VERSION, Store
from genomics_variants.frequencies.release import write_release
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key


def _all_text(root: Path) -> str:
    """Every value the store holds, decoded (Parquet tables and JSON files)."""
    parts = []
    for path in root.rglob("*"):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            parts += [
                str(v)
                for column in table.columns
                for v in column.to_pylist()
                if not isinstance(v, bytes)
            ]
        elif path.suffix in (".json", ".jsonl") or path.name == "CURRENT":
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def test_manifest_is_pseudonymised_on_read(
    delivery: Path, manifest_rows: list[dict[str, str]], person_key: Callable[[str], str]
) -> None:
    manifest = read_manifest(delivery / "sample_manifest.tsv", load_key())
    first = manifest_rows[0]
    row = int(manifest.rows([first["genome_id"]])[0])
    assert manifest.person_key[row] == person_key(first["cpr"])
    assert manifest.karyotype[row] == first["karyotype"]
    assert not any(first["cpr"] in str(v) for v in vars(manifest).values())
    assert (manifest.rows(["no-such-genome"]) == -1).all()


def test_no_cpr_is_stored(
    delivery: Path, reference: Path, manifest_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    result = ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    assert result.added == 40
    write_release(store, result.state)
    text = _all_text(store.root)
    assert "NGC00000" in text  # the scan does see stored values
    assert not any(row["cpr"] in text for row in manifest_rows)


def test_delivery_folder_prefers_gvcfs(delivery: Path) -> None:
    files = expand_inputs([delivery])
    names = [f.name for f in files]
    gvcfs = [n for n in names if n.endswith(".g.vcf.gz")]
    assert "cohort.vcf.gz" in names and gvcfs
    assert not any(n.replace(".g.vcf.gz", ".vcf.gz") in names for n in gvcfs)


def test_genome_missing_from_manifest_is_refused(
    delivery: Path, reference: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "sample_manifest.tsv"
    lines = (delivery / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()
    manifest.write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    with pytest.raises(MedfollowError, match="not in the sample manifest"):
        ingest_files(
            Store(tmp_path / "s"),
            [delivery / "joint" / "cohort.vcf.gz"],
            reference,
            key=load_key(),
            manifest=manifest,
        )


def test_bad_cpr_is_refused_without_echoing_it(
    delivery: Path, reference: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "sample_manifest.tsv"
    text = (delivery / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()
    fields = text[1].split("\t")
    fields[2] = "3213991234"  # 32 December
    manifest.write_text("\n".join([text[0], "\t".join(fields), *text[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(MedfollowError) as exc:
        ingest_files(
            Store(tmp_path / "s"),
            [delivery / "joint" / "cohort.vcf.gz"],
            reference,
            key=load_key(),
            manifest=manifest,
        )
    assert "row 2" in str(exc.value) and "3213991234" not in str(exc.value)


def test_one_genome_per_person_and_no_double_ingest(
    delivery: Path, reference: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    gvcf = next((delivery / "per_sample").glob("*.g.vcf.gz"))
    plain = gvcf.with_name(gvcf.name.replace(".g.vcf.gz", ".vcf.gz"))
    first = ingest_files(store, [plain, gvcf], reference, key=load_key(), workers=1)
    kinds = {f.kind: f for f in first.files}
    assert kinds["gvcf"].added == 1 and kinds["vcf"].duplicate == 1
    again = ingest_files(store, [plain], reference, key=load_key(), workers=1)
    assert again.added == 0 and again.files[0].already_stored == 1
    assert again.state.generation == first.state.generation  # nothing written


def test_excluded_persons_are_never_stored(
    delivery: Path,
    reference: Path,
    manifest_rows: list[dict[str, str]],
    person_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    joint = [r for r in manifest_rows if r["vcf_file"].startswith("joint")]
    opted_out = {person_key(r["cpr"]) for r in joint[:3]}
    result = ingest_files(
        store,
        [delivery / "joint" / "cohort.vcf.gz"],
        reference,
        key=load_key(),
        exclude_persons=opted_out,
        workers=2,
    )
    assert result.files[0].opted_out == 3
    stored = set(result.state.samples.column("person_key").to_pylist())
    assert not stored & opted_out


def test_interrupted_write_leaves_the_store_intact(
    delivery: Path, reference: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    joint = delivery / "joint" / "cohort.vcf.gz"
    ingest_files(store, [joint], reference, key=load_key(), workers=2)
    generation = store.current_generation()
    # a crash after batch files were written but before the switch leaves orphans...
    orphan = store.batch_dir("999999-0001")
    orphan.mkdir(parents=True)
    (orphan / "sites.parquet").write_bytes(b"partial")
    (store.state_dir / ".000009.partial").mkdir()
    scratch = store.root / "scratch"  # a crash while reading leaves its codes there
    scratch.mkdir()
    (scratch / "codes-0-0").write_bytes(b"partial")
    # ...which the next writer sweeps, while the generation in force is untouched
    gvcf = next((delivery / "per_sample").glob("*.g.vcf.gz"))
    ingest_files(store, [gvcf], reference, key=load_key(), workers=1)
    assert not orphan.exists() and not (store.state_dir / ".000009.partial").exists()
    assert not scratch.exists()
    assert store.current_generation() == (generation or 0) + 1
    assert json.loads((store.root / "store.json").read_text())["format_version"] == FORMAT_VERSION
    shutil.rmtree(store.root)


def test_delivery_folder_counts_plain_vcfs_by_their_callable_regions(
    delivery: Path, manifest_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    """The delivery names a callable-regions BED for some plain single-sample VCFs: those
    count toward AN (kind vcf+bed), the others stay of unknown coverage (kind vcf)."""
    store = Store(tmp_path / "store")
    reference = delivery / "reference" / "GRCh38_subset.fa.gz"
    result = ingest_files(store, [delivery], reference, key=load_key(), workers=2)
    kinds = {report.name: report.kind for report in result.files}
    with_bed = {Path(r["vcf_file"]).name for r in manifest_rows if r["callable_bed"]}
    plain = {name for name in kinds if not name.endswith(".g.vcf.gz")} - {"cohort.vcf.gz"}
    assert plain & with_bed and plain - with_bed  # known and unknown coverage, both read
    assert {kinds[name] for name in plain & with_bed} == {"vcf+bed"}
    assert {kinds[name] for name in plain - with_bed} == {"vcf"}
    stored = store.load().batches.column("kind").to_pylist()
    assert stored.count("vcf+bed") == len(plain & with_bed)
