"""Release discipline: never one genome at a time; a removal publishes at once, masked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.discipline import Released, plan_release
from genomics_variants.frequencies.release import current_release, released_genomes
from genomics_variants.pipeline import ingest, remove

NONE = Released(frozenset(), frozenset())


def _ids(n: int, prefix: str = "g") -> set[str]:
    return {f"{prefix}{i:03d}" for i in range(n)}


def test_a_release_needs_the_minimum_change() -> None:
    assert plan_release(NONE, _ids(19)) is None
    first = plan_release(NONE, _ids(20))
    assert first is not None and first.genomes == _ids(20) and not first.purge
    previous = Released(first.genomes, frozenset())
    assert plan_release(previous, _ids(20) | {"new"}) is None  # one genome: no release
    assert plan_release(previous, _ids(20) | _ids(19, "n")) is None
    grown = plan_release(previous, _ids(20) | _ids(20, "n"))
    assert grown is not None and len(grown.genomes) == 40 and grown.withheld == frozenset()
    assert plan_release(previous, _ids(20), min_change=1) is None  # nothing changed


def test_a_removal_publishes_masked_by_withheld_genomes() -> None:
    previous = Released(frozenset(_ids(50)), frozenset())
    stored = _ids(50) - {"g007"}
    plan = plan_release(previous, stored)
    assert plan is not None and plan.purge and "g007" not in plan.genomes
    assert len(plan.withheld) == 19 and plan.withheld <= stored
    assert len(previous.genomes ^ plan.genomes) == 20  # the difference is 20 genomes
    # withheld genomes come back only with 20 changes besides them
    after = Released(plan.genomes, plan.withheld)
    assert plan_release(after, stored | _ids(19, "n")) is None
    back = plan_release(after, stored | _ids(20, "n"))
    assert back is not None and back.genomes == stored | _ids(20, "n") and not back.withheld
    # a big enough change needs no mask; removing a withheld genome purges, changes nothing
    assert plan_release(previous, _ids(30)).withheld == frozenset()  # type: ignore[union-attr]
    gone = next(iter(plan.withheld))
    purge = plan_release(after, stored - {gone})
    assert purge is not None and purge.purge and purge.genomes == plan.genomes
    with pytest.raises(ValueError):
        plan_release(previous, stored, min_change=0)


def test_add_one_genome_publish_compare(
    delivery: Path,
    reference: Path,
    person_key: Callable[[str], str],
    manifest_rows: list[dict[str, str]],
    tmp_path: Path,
) -> None:
    """One genome added is not published; one removed publishes a release that differs
    from the previous by the minimum number of genomes."""
    store = tmp_path / "store"
    joint = delivery / "joint" / "cohort.vcf.gz"
    per_sample = sorted((delivery / "per_sample").glob("*.g.vcf.gz"))
    _, first = ingest(store, [joint], reference, workers=2)
    assert first.release is not None and first.release.sample_count == 32
    _, again = ingest(store, per_sample[:1], reference, workers=1)
    assert again.release is None and again.held and "fewer than 20" in again.held
    served = current_release(Store(store))
    assert served is not None and served.release_id == first.release.release_id
    before = pq.read_table(first.release.frequencies)
    was = released_genomes(first.release)

    gone = next(r for r in manifest_rows if r["vcf_file"].startswith("joint"))
    _, removal = remove(store, [person_key(gone["cpr"])])
    assert removal.release is not None and removal.withheld == 19
    now = released_genomes(removal.release)
    assert not first.release.folder.exists()  # the older release is deleted
    assert len(was.genomes ^ now.genomes) == 20 and gone["genome_id"] not in now.genomes
    assert now.withheld and now.withheld.isdisjoint(now.genomes)
    after = pq.read_table(removal.release.frequencies)
    assert int(sum(after.column("an").to_pylist())) < int(sum(before.column("an").to_pylist()))
