"""What a tier learns beyond its answers: counts, flags and release facts (item 5 of issue 14).

Each test here failed before: `/region` computed `truncated` over every variant, rare ones
too, so an anonymous caller could bisect region ends onto a hidden allele; `/info` showed
exact sample and variant counts to anyone, so two snapshots gave the size of an update.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from genomics_variants.api.app import create_app
from genomics_variants.api.privacy import Policy, Tier, observed_floor
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import current_release
from support.variants import release_columns


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _busiest_window(index: FrequencyIndex, span: int) -> tuple[str, int, int]:
    """A region of `span` bp holding a rare allele (hidden from anonymous callers) and as
    many anonymous-visible ones as can be had."""
    columns = release_columns(index.release)
    ac, chrom, pos = columns["ac"], columns["chrom"], columns["pos"]
    anonymous = observed_floor(Tier.ANONYMOUS, Policy())
    best: tuple[int, str, int, int] | None = None
    for row in np.flatnonzero((ac > 0) & (ac < anonymous)).tolist():
        first = int(pos[row]) - span // 2
        rows = index.between(str(chrom[row]), first, first + span - 1)
        shown = int((ac[rows] >= anonymous).sum())
        if best is None or shown > best[0]:
            best = (shown, str(chrom[row]), first, first + span - 1)
    assert best is not None and best[0] > 0, "the test release should mix rare and common"
    return best[1:]


def test_truncated_counts_only_what_the_tier_may_know_of(api: dict[str, object]) -> None:
    """With the cap set to the number of anonymous-visible variants in a region that also
    holds a rare one, the anonymous answer is complete; the registered one is not."""
    store: Store = api["store"]  # type: ignore[assignment]
    index = FrequencyIndex(current_release(store))  # type: ignore[arg-type]
    chrom, first, last = _busiest_window(index, 2_000)
    rows = index.between(chrom, first, last)
    shown = int((release_columns(index.release)["ac"][rows] >= Policy().anonymous_min_ac).sum())
    client = TestClient(create_app(store.root, max_variants=shown))
    region = {"region": f"{chrom}:{first}-{last}"}
    assert client.get("/region", params=region).json()["truncated"] is False
    registered = client.get("/region", params=region, headers=_auth(api["registered"])).json()
    assert registered["truncated"] is True and registered["count"] == shown


def test_release_sizes_are_for_token_holders_only(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    anonymous = client.get("/info").json()["response"]["info"]["release"]
    assert not {"sample_count", "variant_count"} & set(anonymous)
    assert "sample_count" not in client.get("/info", headers=_auth("mfv_forged")).text
    registered = client.get("/info", headers=_auth(api["registered"])).json()
    assert registered["response"]["info"]["release"]["sample_count"] > 0


def test_absent_and_not_covered_differ_for_token_holders_only(api: dict[str, object]) -> None:
    """A variant the release does not list, at a position genomes of known coverage cover
    ("absent") and at one none covers ("not covered"): token holders see the callable AN,
    under the AN rule; anonymous callers get the same three fields either way."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    store: Store = api["store"]  # type: ignore[assignment]
    index = FrequencyIndex(current_release(store))  # type: ignore[arg-type]
    intervals = pq.read_table(index.release.coverage).to_pylist()
    assert intervals, "the fixture's gVCFs should give callable intervals"
    widest = max(intervals, key=lambda i: i["an"])
    chrom, pos = widest["chrom"], widest["start"]
    covered = index.callable_an(chrom, pos)["all"]
    twins = (f"{chrom}-{pos}-{ref}-{alt}" for ref in "ACGT" for alt in "ACGT" if ref != alt)
    absent = next(twin for twin in twins if index.row(twin) is None)
    nowhere = "chr1-1000-A-C"  # the first 10 kb of chr1 are N in GRCh38
    for variant, an in ((absent, covered), (nowhere, 0)):
        full = client.get(f"/variants/{variant}", headers=_auth(api["controlled"])).json()
        assert full["exists"] is False and full["callable_an"]["all"] == an
        assert full["seen_unknown_coverage"] == 0
        shown = client.get(f"/variants/{variant}", headers=_auth(api["registered"])).json()
        # registered: the exact AN, or hidden ("<10", or "suppressed" where another
        # stratum would give a small one away), but never 0 where genomes are callable
        registered = shown["callable_an"]["all"]
        assert registered == an if an == 0 else registered in (an, "<10", "suppressed")
        assert registered != "<10" or an < 10
        assert set(client.get(f"/variants/{variant}").json()) == {"variant_id", "release", "exists"}
