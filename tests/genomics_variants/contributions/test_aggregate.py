"""Adding and removing genomes keeps the aggregate equal to a full recomputation, and AN
comes only from calls a file actually makes (gVCF blocks yes, plain VCF silence no)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.aggregate import Aggregate
from genomics_variants.contributions.ingest import ingest_files
from genomics_variants.contributions.measures import M
from genomics_variants.contributions.remove import recompute, remove_persons
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.release import frequency_table
from medfollow_core.pseudonymise import load_key


def _same(a: Aggregate, b: Aggregate) -> bool:
    return (
        a.sites.ids.tolist() == b.sites.ids.tolist()
        and np.array_equal(a.counts, b.counts)
        and np.array_equal(a.listed_by, b.listed_by)
    )


def _totals(store: Store) -> dict[str, tuple[int, int, int]]:
    """variant id -> (AN raw, AN adj, AC raw) over all cells."""
    agg = store.load().aggregate
    summed = agg.counts.sum(axis=1)
    return {
        vid: (int(row[M["an"]]), int(row[M["an_adj"]]), int(row[M["ac"]]))
        for vid, row in zip(agg.sites.ids.tolist(), summed, strict=True)
    }


@pytest.fixture(scope="module")
def files(delivery: Path, manifest_rows: list[dict[str, str]]) -> dict[str, object]:
    per_sample = delivery / "per_sample"
    gvcfs = sorted(per_sample.glob("*.g.vcf.gz"))
    plain = sorted(p for p in per_sample.glob("*.vcf.gz") if not p.name.endswith(".g.vcf.gz"))
    gvcf_genomes = {p.name.removesuffix(".g.vcf.gz") for p in gvcfs}
    return {
        "joint": delivery / "joint" / "cohort.vcf.gz",
        "gvcfs": gvcfs,
        "plain": [p for p in plain if p.name.removesuffix(".vcf.gz") not in gvcf_genomes],
        "plain_of_gvcf": [p for p in plain if p.name.removesuffix(".vcf.gz") in gvcf_genomes],
        "plain_without_bed": [
            delivery / r["vcf_file"]
            for r in manifest_rows
            if r["vcf_file"].startswith("per_sample/") and not r["callable_bed"]
        ],
        "cpr": {row["genome_id"]: row["cpr"] for row in manifest_rows},
        "joint_genomes": [
            r["genome_id"] for r in manifest_rows if r["vcf_file"].startswith("joint")
        ],
    }


def test_adds_and_removes_equal_a_full_recomputation(
    files: dict,
    reference: Path,
    person_key: Callable[[str], str],
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    key = load_key()
    store = Store(tmp_path / "a")
    joint, gvcfs, plain = files["joint"], files["gvcfs"], files["plain"]
    genome = lambda path: path.name.split(".")[0]  # noqa: E731
    p1 = person_key(files["cpr"][files["joint_genomes"][3]])
    p2 = person_key(files["cpr"][genome(gvcfs[0])])
    p3 = person_key(files["cpr"][genome(plain[0])])
    p4 = person_key(files["cpr"][files["joint_genomes"][7]])

    steps = [
        lambda: ingest_files(store, [joint], reference, key=key, workers=2),
        lambda: ingest_files(store, [gvcfs[0], *plain[:3]], reference, key=key, workers=2),
        lambda: remove_persons(store, [p1, p2, p3, "not-a-stored-person"]),
        lambda: ingest_files(
            store,
            [gvcfs[1], *plain[3:], *files["plain_of_gvcf"]],
            reference,
            key=key,
            exclude_persons={p1, p2, p3},
            workers=2,
        ),
        lambda: remove_persons(store, [p4]),
    ]
    for step in steps:
        step()
        assert _same(store.load().aggregate, recompute(store))

    fresh = Store(tmp_path / "b")
    ingest_files(
        fresh,
        [joint, *gvcfs, *plain, *files["plain_of_gvcf"]],
        reference,
        key=key,
        exclude_persons={p1, p2, p3, p4},
        workers=2,
    )
    assert _same(store.load().aggregate, fresh.load().aggregate)
    assert frequency_table(store.load()).equals(frequency_table(fresh.load()))
    assert store.load().sample_count == fresh.load().sample_count == 40 - 4


def test_removed_person_leaves_no_trace(
    files: dict, reference: Path, person_key: Callable[[str], str], tmp_path: Path
) -> None:  # type: ignore[type-arg]
    store = Store(tmp_path / "store")
    ingest_files(store, [files["joint"], files["gvcfs"][0]], reference, key=load_key(), workers=2)
    gone = files["joint_genomes"][0]
    result = remove_persons(store, [person_key(files["cpr"][gone])])
    assert result.genomes == 1 and result.batches_emptied == 0
    assert gone not in store.load().samples.column("genome_id").to_pylist()
    for parquet in (store.root / "contributions").rglob("calls.*.parquet"):
        assert gone not in pq.read_table(parquet).column("genome_id").to_pylist()
    one_gvcf = files["gvcfs"][0].name.split(".")[0]
    result = remove_persons(store, [person_key(files["cpr"][one_gvcf])])
    assert result.batches_emptied == 1
    assert len(list((store.root / "contributions").iterdir())) == 1  # only the joint batch


def _seen_unknown(store: Store) -> dict[str, int]:
    agg = store.load().aggregate
    summed = agg.counts.sum(axis=1)[:, M["seen_unknown"]]
    return dict(zip(agg.sites.ids.tolist(), summed.tolist(), strict=True))


def test_plain_vcf_without_callable_regions_is_of_unknown_coverage(
    files: dict, reference: Path, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    """A plain VCF's genome adds to no AN or AC (not even at its own records): its alleles
    count only as 'seen in samples of unknown coverage'."""
    store = Store(tmp_path / "store")
    ingest_files(store, [files["joint"]], reference, key=load_key(), workers=2)
    before = _totals(store)
    plain = files["plain_without_bed"][0]  # the delivery names no callable regions for it
    result = ingest_files(store, [plain], reference, key=load_key(), workers=1)
    assert result.files[0].kind == "vcf" and any("unknown coverage" in n for n in result.notes)
    batch = result.state.batches.column("batch_id").to_pylist()[-1]
    own = set(store.batch_sites(batch).ids.tolist())  # the variants the genome's records list
    after, seen = _totals(store), _seen_unknown(store)
    assert own - set(before) and own & set(before)
    for variant, counts in after.items():
        assert counts == before.get(variant, (0, 0, 0)), variant
        assert seen[variant] == (variant in own), variant
    assert len(after) - len(own - set(before)) == len(before)


def test_callable_regions_make_a_plain_vcf_count_toward_an(
    files: dict, reference: Path, delivery: Path, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    """With a callable-regions BED named in the manifest, the genome is a passing hom-ref
    call wherever callable and its own calls count, as a gVCF's would."""
    plain = files["plain"][0]
    genome = plain.name.removesuffix(".vcf.gz")
    store = Store(tmp_path / "store")
    ingest_files(store, [files["joint"]], reference, key=load_key(), workers=2)
    before = _totals(store)
    listed = sorted(before, key=lambda v: int(v.split("-")[1]))
    chr17 = [int(v.split("-")[1]) for v in listed if v.startswith("chr17-")]
    lo, hi = chr17[len(chr17) // 4], chr17[len(chr17) // 2]  # callable: a part of the window
    bed = tmp_path / f"{genome}.callable.bed"
    bed.write_text(f"track name=callable\nchr17\t{lo - 1}\t{hi}\n", encoding="utf-8")
    lines = (delivery / "sample_manifest.tsv").read_text(encoding="utf-8").splitlines()
    manifest = tmp_path / "sample_manifest.tsv"
    column = lines[0].split("\t").index("callable_bed")  # the delivery's own BEDs replaced
    rows = [lines[0]]
    for line in lines[1:]:
        fields = line.split("\t")
        fields[column] = bed.name if fields[0] == genome else ""
        rows.append("\t".join(fields))
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = ingest_files(store, [plain], reference, key=load_key(), manifest=manifest, workers=1)
    assert result.files[0].kind == "vcf+bed"
    batch = result.state.batches.column("batch_id").to_pylist()[-1]
    own = set(store.batch_sites(batch).ids.tolist())
    after = _totals(store)
    assert max(_seen_unknown(store).values()) == 0
    covered = 0
    for variant, (an, an_adj, _ac) in before.items():
        if variant in own:
            continue
        pos = int(variant.split("-")[1])
        inside = variant.startswith("chr17-") and lo <= pos <= hi
        assert after[variant][:2] == ((an + 2, an_adj + 2) if inside else (an, an_adj)), variant
        covered += inside
    assert covered > 20
    assert all(after[v][0] - before.get(v, (0, 0, 0))[0] in (1, 2) for v in own)
    assert _same(store.load().aggregate, recompute(store))


def _records(path: Path) -> list[str]:
    return [line for line in gzip.open(path, "rt") if not line.startswith("#")]


def test_gvcf_reference_blocks_count_toward_an(
    files: dict, reference: Path, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    store = Store(tmp_path / "store")
    ingest_files(store, [files["joint"]], reference, key=load_key(), workers=2)
    before = _totals(store)
    gvcf = files["gvcfs"][0]
    blocks = []
    variant_spans = []
    for line in _records(gvcf):
        chrom, pos, _id, ref, _alt, _q, _f, info, _fmt, sample = line.rstrip("\n").split("\t")
        gt, gq, dp = sample.split(":")[:3]
        if info.startswith("END="):
            ploidy = sum(a != "." for a in gt.replace("|", "/").split("/"))
            passes = int(gq) >= 20 and int(dp) >= (5 if ploidy == 1 else 10)
            blocks.append((chrom, int(pos), int(info[4:]), ploidy, passes))
        else:
            variant_spans.append((chrom, int(pos) - 50, int(pos) + len(ref) + 50))
    ingest_files(store, [gvcf], reference, key=load_key(), workers=1)
    after = _totals(store)
    checked = gained = 0
    for variant, (an, an_adj, _ac) in before.items():
        chrom, pos = variant.split("-")[0], int(variant.split("-")[1])
        if any(c == chrom and lo <= pos <= hi for c, lo, hi in variant_spans):
            continue  # near the genome's own records: not a pure block site
        covering = [b for b in blocks if b[0] == chrom and b[1] <= pos <= b[2]]
        ploidy, passes = (covering[0][3], covering[0][4]) if covering else (0, False)
        assert after[variant][0] - an == ploidy, variant
        assert after[variant][1] - an_adj == (ploidy if passes else 0), variant
        checked += 1
        gained += ploidy > 0
    assert checked > 100 and gained > 100
