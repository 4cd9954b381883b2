"""Batch look-ups (POST /variants) and whole-region streams (GET /region/stream)."""

from __future__ import annotations

import json

import numpy as np
from fastapi.testclient import TestClient

from genomics_variants.api.access import TokenStore
from genomics_variants.api.app import create_app
from genomics_variants.api.limits import MAX_BATCH_VARIANTS, MAX_BODY_BYTES
from genomics_variants.api.privacy import Tier
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import current_release
from support.variants import release_columns


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _index(api: dict[str, object]) -> FrequencyIndex:
    store: Store = api["store"]  # type: ignore[assignment]
    return FrequencyIndex(current_release(store))  # type: ignore[arg-type]


def test_a_batch_answers_each_variant_as_a_single_look_up_would(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    chrom, pos, ref, _ = str(api["common"]).split("-")
    absent = next(
        f"{chrom}-{pos}-{ref}-{alt}"
        for alt in "ACGT"
        if alt != ref and _index(api).row(f"{chrom}-{pos}-{ref}-{alt}") is None
    )
    variants = [str(api["common"]), str(api["rare"]), absent]
    for headers in ({}, _auth(api["registered"]), _auth(api["controlled"])):
        answer = client.post(
            "/variants", json={"variants": [*variants, "no variant"]}, headers=headers
        )
        assert answer.status_code == 200
        results = answer.json()["results"]
        singles = [client.get(f"/variants/{v}", headers=headers).json() for v in variants]
        assert results[:3] == singles
        assert set(results[3]) == {"error"} and "no variant" not in results[3]["error"]


def test_a_batch_costs_one_query_per_variant(api: dict[str, object]) -> None:
    store: Store = api["store"]  # type: ignore[assignment]
    token = TokenStore(store.access_dir).add("batcher", Tier.REGISTERED, budget=5)
    client = TestClient(create_app(store.root))
    common = str(api["common"])
    assert (
        client.post("/variants", json={"variants": [common] * 4}, headers=_auth(token)).status_code
        == 200
    )
    refused = client.post("/variants", json={"variants": [common] * 2}, headers=_auth(token))
    assert refused.status_code == 429  # one left: the whole batch is refused, nothing spent
    assert (
        client.post("/variants", json={"variants": [common]}, headers=_auth(token)).status_code
        == 200
    )
    assert client.get(f"/variants/{common}", headers=_auth(token)).status_code == 429


def test_a_batch_is_bounded(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    common = str(api["common"])
    large = [common] * 2_000  # over the 16 kB of other bodies, well under the batch limit
    assert len(json.dumps({"variants": large})) > MAX_BODY_BYTES
    controlled = _auth(api["controlled"])
    assert (
        client.post("/variants", json={"variants": large}, headers=controlled).json()["count"]
        == 2_000
    )
    too_many = {"variants": ["1-1-A-C"] * (MAX_BATCH_VARIANTS + 1)}
    assert client.post("/variants", json=too_many, headers=controlled).status_code in (413, 422)
    assert client.post("/variants", json={"variants": []}, headers=controlled).status_code == 422


def test_controlled_users_stream_a_whole_region_without_the_cap(api: dict[str, object]) -> None:
    """With the region cap at 2, a stream still holds every variant of the region, each
    NDJSON line as /variants/{id} gives it; TSV carries the release's columns."""
    store: Store = api["store"]  # type: ignore[assignment]
    index = _index(api)
    columns = release_columns(index.release)
    chrom = str(columns["chrom"][0])
    rows = index.between(chrom, 1, 300_000_000)
    expected = [str(v) for v in columns["variant_id"][rows[columns["ac"][rows] > 0]]]
    assert len(expected) > 2
    client = TestClient(create_app(store.root, max_variants=2))
    region = {"region": f"{chrom}:1-{int(np.max(columns['pos'][rows]))}"}
    controlled = _auth(api["controlled"])
    capped = client.get("/region", params=region, headers=controlled)
    assert capped.status_code == 400 or capped.json()["truncated"] is True
    lines = client.get("/region/stream", params=region, headers=controlled).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["variant_id"] for r in records] == expected
    assert records[0] == client.get(f"/variants/{expected[0]}", headers=controlled).json()
    tsv = client.get("/region/stream", params=region | {"format": "tsv"}, headers=controlled)
    header, *body = tsv.text.splitlines()
    assert header.split("\t")[:5] == ["variant_id", "chrom", "pos", "ref", "alt"]
    assert [line.split("\t")[0].strip('"') for line in body] == expected
    registered = client.get("/region/stream", params=region, headers=_auth(api["registered"]))
    assert registered.status_code == 403 and "variant_id" not in registered.text
