"""The HTTP API: Beacon v2 semantics (0-based start, 17 or chr17), tiers, budgets, audit."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pysam
import pytest
from fastapi.testclient import TestClient

from genomics_variants.api import app as app_module
from genomics_variants.api import service as service_module
from genomics_variants.api.access import TokenStore
from genomics_variants.api.app import create_app
from genomics_variants.api.privacy import Policy, Tier, disclose
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import current_release
from genomics_variants.frequencies.served import SERVED_DIR
from support.variants import cold_tries, evict, release_columns


def _beacon_params(variant: str, name_style: str = "chr") -> dict[str, str]:
    chrom, pos, ref, alt = variant.split("-")
    return {
        "referenceName": chrom if name_style == "chr" else chrom.removeprefix("chr"),
        "start": str(int(pos) - 1),
        "referenceBases": ref,
        "alternateBases": alt,
        "assemblyId": "GRCh38",
    }


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_framework_endpoints(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    info = client.get("/info").json()
    assert info["response"]["apiVersion"] == "v2.0.0" and info["response"]["version"] == "r00001"
    assert (
        "samples_by_stratum" not in info["response"]["info"]["release"]
    )  # small counts stay private
    assert client.get("/service-info").json()["type"]["artifact"] == "beacon"
    assert (
        client.get("/map")
        .json()["response"]["endpointSets"]["genomicVariant"]["rootUrl"]
        .endswith("/g_variants")
    )
    assert "genomicVariant" in client.get("/entry_types").json()["response"]["entryTypes"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/g_variants", "/variants/{variant}", "/region"} <= set(paths)


@pytest.mark.parametrize("style", ["chr", "bare"])
def test_beacon_start_is_zero_based(api: dict[str, object], style: str) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    params = _beacon_params(str(api["common"]), style)
    body = client.get(
        "/g_variants",
        params={**params, "requestedGranularity": "count"},
        headers=_auth(api["registered"]),
    ).json()
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
    assert body["meta"]["returnedGranularity"] == "count"
    one_based = {**params, "start": str(int(params["start"]) + 1)}
    assert client.get("/g_variants", params=one_based).json()["responseSummary"]["exists"] is False


def test_beacon_post_and_granularity_by_tier(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": _beacon_params(str(api["common"])),
            "requestedGranularity": "record",
        },
    }
    anonymous = client.post("/g_variants", json=body).json()
    assert anonymous["meta"]["returnedGranularity"] == "boolean"
    assert anonymous["responseSummary"] == {"exists": True}
    registered = client.post("/g_variants", json=body, headers=_auth(api["registered"])).json()
    assert registered["meta"]["returnedGranularity"] == "count" and "response" not in registered
    controlled = client.post("/g_variants", json=body, headers=_auth(api["controlled"])).json()
    result = controlled["response"]["resultSets"][0]["results"][0]
    assert result["variantInternalId"] == api["common"]
    assert (
        result["variation"]["location"]["interval"]["start"]["value"]
        == int(str(api["common"]).split("-")[1]) - 1
    )


def test_beacon_range_and_errors(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    count = client.get(
        "/g_variants",
        params={
            "referenceName": "17",
            "start": 43_000_000,
            "end": 43_050_000,
            "requestedGranularity": "count",
        },
        headers=_auth(api["controlled"]),
    ).json()
    assert count["responseSummary"]["numTotalResults"] > 10
    wrong = client.get(
        "/g_variants", params={"referenceName": "17", "start": 1, "assemblyId": "GRCh37"}
    )
    assert wrong.status_code == 400 and "GRCh38" in wrong.json()["error"]["errorMessage"]
    huge = client.get("/g_variants", params={"referenceName": "17", "start": 0, "end": 10_000_000})
    assert huge.status_code == 400 and "limit" in huge.json()["error"]["errorMessage"]


def test_rare_alleles_are_hidden_from_anonymous(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    rare = str(api["rare"])
    assert (
        client.get("/g_variants", params=_beacon_params(rare)).json()["responseSummary"]["exists"]
        is False
    )
    assert client.get(f"/variants/{rare}").json() == {
        "variant_id": rare,
        "release": "r00001",
        "exists": False,
    }
    shown = client.get(f"/variants/{rare}", headers=_auth(api["registered"])).json()
    assert shown["exists"] is True and shown["frequencies"]["all"]["ac"] == "<5"
    full = client.get(f"/variants/{rare}", headers=_auth(api["controlled"])).json()
    assert 0 < full["frequencies"]["all"]["ac"] < 5 and "ac_raw" in full["frequencies"]["all"]


def test_variant_spellings_region_cap_and_unknown_token(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    chrom, pos, ref, alt = str(api["common"]).split("-")
    bare = client.get(
        f"/variants/{chrom.removeprefix('chr')}-{pos}-{ref}-{alt}", headers=_auth(api["registered"])
    ).json()
    assert bare["variant_id"] == api["common"] and isinstance(bare["frequencies"]["all"]["ac"], int)
    region = client.get(
        "/region", params={"region": "chr17:43000000-43099999"}, headers=_auth(api["registered"])
    ).json()
    assert region["count"] > 0 and region["limits"] == {
        "max_span_bp": 100_000,
        "max_variants": 1_000,
    }
    anonymous = client.get("/region", params={"region": "chr17:43000000-43099999"}).json()
    assert set(anonymous) >= {"exists", "truncated"} and "variants" not in anonymous
    too_big = client.get(
        "/region", params={"region": "chr17:43000000-43200000"}, headers=_auth(api["registered"])
    )
    assert too_big.status_code == 400 and "limit" in too_big.json()["error"]["message"]
    assert client.get(f"/variants/{api['common']}", headers=_auth("mfv_forged")).status_code == 401


def test_budget_and_audit_log(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    statuses = [
        client.get(f"/variants/{api['common']}", headers=_auth(api["thrifty"])).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    store: Store = api["store"]  # type: ignore[assignment]
    lines = [
        json.loads(line)
        for path in (store.access_dir / "audit").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    thrifty = [e for e in lines if e["principal"] == "thrifty"]
    assert [e["status"] for e in thrifty] == [200, 200, 429]
    assert all({"ts", "tier", "endpoint", "query", "client"} <= set(e) for e in lines)
    assert not any(str(api["thrifty"]) in json.dumps(e) for e in lines)  # tokens never logged


def test_an_indel_is_found_however_it_is_typed(api: dict[str, object], reference: Path) -> None:
    """Releases hold normalised variants; a clinician may type an indel padded or shifted.
    The store remembers its reference, so the API normalises the typed form first."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    store: Store = api["store"]  # type: ignore[assignment]
    # registered inside the store: the API needs no path into the landing area
    assert store.reference == store.root / "reference" / reference.name
    assert store.reference.read_bytes() == reference.read_bytes()
    columns = release_columns(current_release(store))  # type: ignore[arg-type]
    ref, alt = columns["ref"], columns["alt"]
    row = next(i for i in range(len(ref)) if len(ref[i]) > 1 and len(alt[i]) == 1)
    chrom, pos = columns["chrom"][row], int(columns["pos"][row])
    after = pysam.FastaFile(str(reference)).fetch(
        chrom, pos - 1 + len(ref[row]), pos + len(ref[row])
    )
    padded = f"{chrom}-{pos}-{ref[row]}{after}-{alt[row]}{after}"  # same deletion, one base longer
    answer = client.get(f"/variants/{padded}", headers=_auth(api["controlled"])).json()
    assert answer["variant_id"] == columns["variant_id"][row] and answer["exists"] is True
    beacon = client.get(
        "/g_variants",
        params={
            "referenceName": chrom,
            "start": str(pos - 1),
            "referenceBases": f"{ref[row]}{after}",
            "alternateBases": f"{alt[row]}{after}",
            "requestedGranularity": "count",
        },
        headers=_auth(api["controlled"]),
    ).json()
    assert beacon["responseSummary"]["exists"] is True
    wrong = client.get(f"/variants/{chrom}-{pos}-NN{ref[row]}-N", headers=_auth(api["controlled"]))
    assert (
        wrong.status_code == 400
        and "does not match the reference" in wrong.json()["error"]["message"]
    )


def test_an_answer_whose_block_is_on_disk_is_the_same(api: dict[str, object]) -> None:
    """A fresh server over a release evicted from the page cache answers from a reader
    thread (Service._answered) exactly as a warm one does."""
    store: Store = api["store"]  # type: ignore[assignment]
    client: TestClient = api["client"]  # type: ignore[assignment]
    headers = {"Authorization": f"Bearer {api['controlled']}"}
    chrom, pos, ref, alt = str(api["common"]).split("-")
    beacon = {
        "referenceName": chrom,
        "start": str(int(pos) - 1),
        "referenceBases": ref,
        "alternateBases": alt,
        "requestedGranularity": "record",
    }
    warm = client.get(f"/variants/{api['common']}", headers=headers).json()
    warm_beacon = client.get("/g_variants", params=beacon, headers=headers).json()
    release = current_release(store)
    assert release is not None
    evict(release.folder / SERVED_DIR)
    cold = TestClient(create_app(store.root))
    assert cold.get(f"/variants/{api['common']}", headers=headers).json() == warm
    evict(release.folder / SERVED_DIR)
    assert cold.get("/g_variants", params=beacon, headers=headers).json() == warm_beacon


def _threads_answering_cold(api: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads that worked out a controlled /variants answer (one per attempt) by a
    fresh server over a release evicted from the page cache, on the first try where the
    first attempt met the disk (see `cold_tries`)."""
    store: Store = api["store"]  # type: ignore[assignment]
    threads: list[int] = []
    original = app_module.lookup

    def recording(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(app_module, "lookup", recording)
    release = current_release(store)
    assert release is not None
    for _ in cold_tries(release.folder / SERVED_DIR):
        threads.clear()
        cold = TestClient(create_app(store.root))
        answer = cold.get(f"/variants/{api['common']}", headers=_auth(api["controlled"]))
        assert answer.status_code == 200 and answer.json()["exists"] is True
        if len(threads) >= 2:
            break
    return threads


def test_a_block_on_disk_is_waited_for_in_a_thread_and_the_answer_worked_out_on_the_loop(
    api: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the disk wait leaves the event loop (Service._answered): the answer is worked
    out again on the loop's thread once its block is in memory, so no answer's Python work
    competes with the loop for the interpreter lock."""
    threads = _threads_answering_cold(api, monkeypatch)
    assert len(threads) >= 2, "no try's first attempt found its block on disk"
    assert len(set(threads)) == 1


def test_registered_answers_are_the_per_record_rule(api: dict[str, object]) -> None:
    """What /variants sends a registered caller is `disclose` of the release's record,
    suppression included, variant by variant (every 10th row, all rows with a hidden cell)."""
    store: Store = api["store"]  # type: ignore[assignment]
    headers = _auth(TokenStore(store.access_dir).add("auditor", Tier.REGISTERED, budget=0))
    client = TestClient(create_app(store.root))  # a server that knows the new token
    release = current_release(store)
    assert release is not None
    index = FrequencyIndex(release)
    policy, suppressed = Policy(), 0
    for row in range(len(index)):
        record = index.record(row)
        expected = disclose(record, Tier.REGISTERED, policy)
        hidden = "suppressed" in json.dumps(expected)
        if not expected["exists"] or (row % 10 and not hidden):
            continue
        answer = client.get(f"/variants/{record['variant_id']}", headers=headers).json()
        answer.pop("seen_unknown_coverage")
        assert answer == json.loads(json.dumps(expected)), record["variant_id"]
        suppressed += hidden
    assert suppressed, "the release should exercise secondary suppression"


def test_a_long_answer_that_misses_the_disk_is_finished_in_a_thread(
    api: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long answer (a batch of thousands of variants) is not worked out again on the
    loop after each block read, which would stall every other request for its length
    several times over: after its first miss it is finished in a reader thread."""
    monkeypatch.setattr(service_module, "LONG_ATTEMPT_SECONDS", 0.0)  # every answer is long
    threads = _threads_answering_cold(api, monkeypatch)
    assert len(threads) == 2 and threads[0] != threads[1]
