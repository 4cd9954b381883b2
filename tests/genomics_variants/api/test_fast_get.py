"""GET /g_variants' fast path - its own query-string reading (querystring.py), the route
ahead of the middleware stack (shortcut.py), an exact allele found by id (beacon.match) -
answers, charges and audits exactly as the POST route does for the same query, at every
tier and granularity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from genomics_variants.api.access import utc_timestamp
from genomics_variants.api.querystring import query_parameters
from genomics_variants.api.shortcut import Shortcut
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import current_release
from support.variants import audit_entries, release_columns

QUERY_STRINGS = [
    b"",
    b"referenceName=17&start=41",
    b"a=1&a=2",  # the last value wins
    b"a",
    b"a=&b",
    b"&&a=1&&",
    b"a=b=c",
    b"=v",
    b"a;b=1",
    b"a=%41%2B%ZZ",
    b"a=x+y",
    b"%61=1&a=2",
    b"a=%C3%A9",
    b"a=\xe9\xff",  # raw bytes: latin-1
]


@pytest.mark.parametrize("raw", QUERY_STRINGS)
def test_query_parameters_are_read_as_starlette_reads_them(raw: bytes) -> None:
    assert query_parameters(raw) == dict(QueryParams(raw))


def test_audit_timestamps_keep_the_isoformat_shape() -> None:
    """`utc_timestamp` stands in for datetime.now(UTC).isoformat(timespec="milliseconds")."""
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = utc_timestamp()
    after = datetime.now(UTC)
    assert len(stamp) == len(after.isoformat(timespec="milliseconds"))
    assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(stamp) <= after


async def _fallback(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("stack")(scope, receive, send)


async def _fast(request: Request) -> Response:
    return PlainTextResponse("shortcut")


async def _fast_item(request: Request) -> Response:
    return PlainTextResponse(f"shortcut {request.path_params['item']}")


@pytest.mark.parametrize(
    ("method", "path", "root_path", "served_by"),
    [
        ("GET", "/fast", "", "shortcut"),
        ("GET", "/beacon/fast", "/beacon", "shortcut"),
        ("GET", "/fast", "/fast", "stack"),  # the whole path is the root: "" to the router
        ("GET", "/beaconfast", "/beacon", "stack"),
        ("HEAD", "/fast", "", "stack"),
        ("POST", "/fast", "", "stack"),
        ("GET", "/fast/more", "", "stack"),
        ("GET", "/item/17-41-G-A", "", "shortcut 17-41-G-A"),
        ("GET", "/beacon/item/a%20b", "/beacon", "shortcut a b"),  # decoded, as Starlette
        ("GET", "/item/", "", "stack"),  # an empty segment is no parameter
        ("GET", "/item/a/b", "", "stack"),  # one segment only
        ("GET", "/item", "", "stack"),
        ("POST", "/item/x", "", "stack"),
    ],
)
def test_the_shortcut_takes_only_get_on_its_paths(
    method: str, path: str, root_path: str, served_by: str
) -> None:
    app = Starlette()
    app.add_middleware(Shortcut, routes={"/fast": _fast, "/item/{item}": _fast_item})
    app.mount("/", _fallback)
    client = TestClient(app, root_path=root_path)
    response = client.request(method, path)
    assert response.status_code == 200
    if method != "HEAD":
        assert response.text == served_by


def _auth(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(api: dict[str, object]) -> list[dict[str, Any]]:
    store: Store = api["store"]  # type: ignore[assignment]
    return audit_entries(store.access_dir)


def _queries(api: dict[str, object]) -> dict[str, dict[str, str]]:
    """Beacon parameters (as text, as a GET sends them) for a common allele, a rare one,
    one the release does not hold, an indel, a range, and one refused (400)."""
    store: Store = api["store"]  # type: ignore[assignment]
    index = FrequencyIndex(current_release(store))  # type: ignore[arg-type]
    ids = release_columns(index.release)["variant_id"].tolist()
    indel = next(v for v in ids if len(v.split("-")[2]) != len(v.split("-")[3]))
    chrom, pos, ref, alt = str(api["common"]).split("-")
    held = set(ids)
    other = next(
        b for b in "ACGT" if b not in (ref, alt) and f"{chrom}-{pos}-{ref}-{b}" not in held
    )

    def allele(variant: str) -> dict[str, str]:
        c, p, r, a = variant.split("-")
        return {
            "referenceName": c.removeprefix("chr"),
            "start": str(int(p) - 1),
            "referenceBases": r,
            "alternateBases": a,
            "assemblyId": "GRCh38",
        }

    return {
        "common": allele(str(api["common"])),
        "rare": allele(str(api["rare"])),
        "absent": allele(f"{chrom}-{pos}-{ref}-{other}"),
        "indel": allele(indel),
        "range": {"referenceName": chrom, "start": str(int(pos) - 500), "end": str(int(pos) + 500)},
        "refused": {"referenceName": chrom, "start": "1", "referenceBases": "Q"},
    }


@pytest.mark.parametrize("tier", ["anonymous", "registered", "controlled"])
@pytest.mark.parametrize("granularity", [None, "boolean", "count", "record"])
def test_get_answers_charges_and_audits_as_post(
    api: dict[str, object], tier: str, granularity: str | None
) -> None:
    client: TestClient = api["client"]  # type: ignore[assignment]
    headers = {} if tier == "anonymous" else _auth(api[tier])
    asked = {"requestedGranularity": granularity} if granularity else {}
    for name, params in _queries(api).items():
        got = client.get("/g_variants", params=params | asked, headers=headers)
        got_audit = _audit(api)[-1]
        posted = client.post(
            "/g_variants", json={"query": {"requestParameters": params} | asked}, headers=headers
        )
        posted_audit = _audit(api)[-1]
        assert got.status_code == posted.status_code == (400 if name == "refused" else 200)
        assert got.json() == posted.json(), name
        assert got_audit["charged"] is True
        assert {k: v for k, v in got_audit.items() if k != "ts"} == {
            k: v for k, v in posted_audit.items() if k != "ts"
        }, name


def test_an_exact_allele_found_by_id_matches_the_position_scan(api: dict[str, object]) -> None:
    """Every allele of the release, and an absent twin of each SNV, is found by the GET
    path exactly when a one-base range query lists it (the vectorised scan)."""
    client: TestClient = api["client"]  # type: ignore[assignment]
    store: Store = api["store"]  # type: ignore[assignment]
    index = FrequencyIndex(current_release(store))  # type: ignore[arg-type]
    headers = _auth(api["controlled"])
    rng = np.random.default_rng(3)
    ids = release_columns(index.release)["variant_id"]
    for variant in rng.choice(ids, 40, replace=False).tolist():
        chrom, pos, ref, alt = variant.split("-")
        at = {"referenceName": chrom, "start": str(int(pos) - 1), "end": pos}
        listed = client.get(
            "/g_variants",
            params=at | {"requestedGranularity": "record", "limit": "100"},
            headers=headers,
        ).json()["response"]["resultSets"][0]["results"]
        twins = [base for base in "ACGT" if base != ref] if len(ref) == 1 else []
        for base in {alt, *twins}:
            query = {"referenceName": chrom, "start": str(int(pos) - 1)}
            query |= {"referenceBases": ref, "alternateBases": base}
            found = client.get(
                "/g_variants", params=query | {"requestedGranularity": "record"}, headers=headers
            ).json()["response"]["resultSets"][0]["results"]
            expected = [r for r in listed if r["variation"]["alternateBases"] == base]
            expected = [r for r in expected if r["variation"]["referenceBases"] == ref]
            assert found == expected, (variant, base)
