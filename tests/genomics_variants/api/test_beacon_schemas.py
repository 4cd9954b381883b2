"""Every Beacon v2 endpoint the API claims validates against the official JSON schemas.

The schemas are vendored in beacon_schemas/ (CC0; README there says from where and what is
not official). `$ref`s - relative, or absolute to the beacon-v2 and beacon-v2-unity
repositories - resolve to those local files, never to the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMAS = Path(__file__).parent / "beacon_schemas"
BEACON = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
UNITY = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2-unity/main/"
VRS = "https://raw.githubusercontent.com/ga4gh/vrs/"
RESPONSES = "framework/json/responses/"
VARIANT = "models/json/beacon-v2-default-model/genomicVariations/defaultSchema.json"
BY_GRANULARITY = {
    "boolean": "beaconBooleanResponse.json",
    "count": "beaconCountResponse.json",
    "record": "beaconResultsetsResponse.json",
}


def _retrieve(uri: str) -> Resource[Any]:
    """A vendored schema for a URI the schemas refer to (VRS: the stand-in)."""
    if uri.startswith(VRS):
        path = SCHEMAS / "vrs-1.2-stand-in.json"
    else:
        base = next(b for b in (BEACON, UNITY) if uri.startswith(b))
        path = SCHEMAS / uri.removeprefix(base)
    contents = json.loads(path.read_text(encoding="utf-8"))
    return Resource.from_contents(contents, default_specification=DRAFT202012)


REGISTRY: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def assert_valid(document: object, schema: str) -> None:
    """Validate against one vendored schema; the failure names every error's place."""
    validator = Draft202012Validator({"$ref": BEACON + schema}, registry=REGISTRY)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/", "beaconInfoResponse.json"),
        ("/info", "beaconInfoResponse.json"),
        ("/service-info", "ga4gh-service-info-1-0-0-schema.json"),
        ("/map", "beaconMapResponse.json"),
        ("/configuration", "beaconConfigurationResponse.json"),
        ("/entry_types", "beaconEntryTypesResponse.json"),
        ("/filtering_terms", "beaconFilteringTermsResponse.json"),
    ],
)
def test_framework_endpoints_validate(api: dict[str, object], path: str, schema: str) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    response = client.get(path)
    assert response.status_code == 200
    assert_valid(response.json(), RESPONSES + schema)


def _query(variant: str, range_query: bool) -> dict[str, Any]:
    chrom, pos, ref, alt = variant.split("-")
    if range_query:
        return {"referenceName": chrom, "start": int(pos) - 1_000, "end": int(pos) + 1_000}
    return {
        "referenceName": chrom,
        "start": int(pos) - 1,
        "referenceBases": ref,
        "alternateBases": alt,
    }


@pytest.mark.parametrize("tier", ["anonymous", "registered", "controlled"])
@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
@pytest.mark.parametrize("range_query", [False, True], ids=["allele", "range"])
def test_g_variants_validate_at_every_tier_and_granularity(
    api: dict[str, object], tier: str, granularity: str, range_query: bool
) -> None:
    """GET and POST, for a common allele and a rare one: the document matches the schema
    of the granularity returned, and each record the genomicVariations default model."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    headers = {} if tier == "anonymous" else _auth(api[tier])
    for variant in (str(api["common"]), str(api["rare"])):
        params = _query(variant, range_query)
        got = client.get("/g_variants", params=params | {"requestedGranularity": granularity})
        if headers:
            got = client.get(
                "/g_variants",
                params=params | {"requestedGranularity": granularity},
                headers=headers,
            )
        body = {"query": {"requestParameters": params, "requestedGranularity": granularity}}
        posted = client.post("/g_variants", json=body, headers=headers)
        for response in (got, posted):
            assert response.status_code == 200, response.text
            document = response.json()
            returned = document["meta"]["returnedGranularity"]
            assert_valid(document, RESPONSES + BY_GRANULARITY[returned])
            for result_set in document.get("response", {}).get("resultSets", []):
                for result in result_set["results"]:
                    assert_valid(result, VARIANT)


def test_errors_validate_and_carry_the_required_meta(api: dict[str, object]) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    responses = [
        client.get("/g_variants", params={"start": "5"}),  # no referenceName
        client.get("/g_variants", params={"referenceName": "17", "start": "-1"}),
        client.post("/g_variants", content=b"{not json"),
        client.get("/g_variants", params={"referenceName": "17", "start": "5"}, headers=_auth("x")),
    ]
    assert [r.status_code for r in responses] == [400, 400, 422, 401]
    for response in responses:
        assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")


def test_frequencies_are_numbers_and_counts_ride_in_the_extension(
    api: dict[str, object],
) -> None:
    """No populationFrequency with alleleFrequency null (a stratum with AN 0 is left out);
    AC, AN, nhomalt and nhemi carry VA-spec CohortAlleleFrequency's names."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    chrom, pos, *_ = str(api["common"]).split("-")
    params = {
        "referenceName": chrom,
        "start": int(pos) - 50_000,
        "end": int(pos) + 50_000,
        "requestedGranularity": "record",
        "limit": 100,
    }
    document = client.get("/g_variants", params=params, headers=_auth(api["controlled"])).json()
    results = document["response"]["resultSets"][0]["results"]
    assert results
    for result in results:
        for population in result["frequencyInPopulations"][0]["frequencies"]:
            assert isinstance(population["alleleFrequency"], float | int)
            assert population["locusAlleleCount"] > 0
            assert {"focusAlleleCount", "homozygotes", "hemizygotes"} <= set(population)


def test_get_without_fastapi_solving_answers_as_post(api: dict[str, object]) -> None:
    """GET /g_variants runs as a plain route (for speed); it must answer exactly as POST,
    pagination included, and refuse a skip that is not an integer as FastAPI did (422)."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    headers = _auth(api["controlled"])
    params = _query(str(api["common"]), True)
    page = {"skip": 1, "limit": 2}
    got = client.get(
        "/g_variants", params=params | page | {"requestedGranularity": "record"}, headers=headers
    ).json()
    query = {"requestParameters": params, "requestedGranularity": "record", "pagination": page}
    posted = client.post("/g_variants", json={"query": query}, headers=headers).json()
    assert got == posted and got["meta"]["receivedRequestSummary"]["pagination"] == page
    refused = client.get("/g_variants", params=params | {"skip": "two"}, headers=headers)
    assert refused.status_code == 422
    assert_valid(refused.json(), RESPONSES + "beaconErrorResponse.json")
