"""The variant-frequency API (FastAPI): GA4GH Beacon v2 plus frequency look-ups by stratum.

Endpoints: `/` and `/info`, `/service-info`, `/map`, `/configuration`, `/entry_types`,
`/filtering_terms` (Beacon framework; tests/genomics_variants/api/test_beacon_schemas.py
validates each against the official schemas), `/g_variants` (GET and POST, Beacon v2
genomic variants), `/variants/{variant}`, `POST /variants` (up to MAX_BATCH_VARIANTS at
once, charged one query per variant), `/region?region=chr17:43040000-43050000` (frequencies
by stratum, capped) and `/region/stream` (a whole region as NDJSON or TSV, controlled
tokens only); OpenAPI at `/docs`.

Who is asking decides what is shown (privacy.py): no token means anonymous; a token in
`Authorization: Bearer <token>` (or `X-API-Token`) means its registered or controlled
tier. Every data query is charged to a daily budget and written to the audit log
(service.py), and so is every request turned away before a route runs: FastAPI's
validation errors, bodies over the limit (limits.py), unknown paths and methods. Their
error bodies say what was wrong without repeating what was sent.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from genomics_variants.api import beacon
from genomics_variants.api.access import Principal
from genomics_variants.api.jsonbody import JSONBody
from genomics_variants.api.limits import MAX_BATCH_VARIANTS, BodyLimit, body_limit
from genomics_variants.api.privacy import Policy, Tier
from genomics_variants.api.querystring import query_parameters
from genomics_variants.api.service import (
    STREAM_FORMATS,
    Answer,
    Service,
    ServiceError,
    batch,
    lookup,
    stream_region,
)
from genomics_variants.api.service import region as answer_region
from genomics_variants.api.shortcut import Shortcut
from genomics_variants.assembly import ASSEMBLY
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import MAX_REGION_SPAN, MAX_REGION_VARIANTS
from genomics_variants.frequencies.release import current_release

# What /info tells about a release: anyone sees its id, date and QC; exact sample and variant
# counts only token holders (comparing them across releases tells how many genomes, and how
# many rare alleles, one release added: the update attack). Per-stratum counts: never.
PUBLIC_RELEASE_FIELDS = ("release_id", "date", "assembly", "qc")
TOKEN_RELEASE_FIELDS = (*PUBLIC_RELEASE_FIELDS, "sample_count", "variant_count")
DATA_ENDPOINTS = ("g_variants", "variants", "region")
BEACON_GET_PARAMETERS = (
    "referenceName",
    "start",
    "end",
    "referenceBases",
    "alternateBases",
    "assemblyId",
)
PAGE_DEFAULTS = (("skip", 0), ("limit", 10))
INTEGER = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")
INVALID_QUERY = "invalid query parameters: see /docs for the schema"  # as `invalid` words it
# where FastAPI found a validation error (the first item of its `loc`), in words
VALIDATION_PLACES = {"query": "query parameters", "body": "request body", "path": "path"}


class RequestQuery(BaseModel):
    requestParameters: dict[str, Any] = Field(
        default_factory=dict,
        description="assemblyId, referenceName, start (0-based), end, referenceBases, alternateBases",
    )
    requestedGranularity: str | None = Field(default=None, description="boolean, count or record")
    pagination: dict[str, int] = Field(default_factory=dict, description="skip, limit")


class BatchRequest(BaseModel):
    """POST /variants: up to MAX_BATCH_VARIANTS variants, spelled as for /variants/{id}."""

    variants: list[str] = Field(..., min_length=1, max_length=MAX_BATCH_VARIANTS)


class BeaconRequest(BaseModel):
    """A Beacon v2 POST request body."""

    meta: dict[str, Any] = Field(default_factory=dict)
    query: RequestQuery = Field(default_factory=RequestQuery)


def create_app(
    store_root: Path,
    *,
    policy: Policy | None = None,
    max_span: int = MAX_REGION_SPAN,
    max_variants: int = MAX_REGION_VARIANTS,
) -> FastAPI:
    """The API over the store at `store_root` (its current release, tokens and audit log)."""
    service = Service(Store(store_root), policy or Policy(), max_span, max_variants)
    app = FastAPI(
        title="medfollow variant frequencies",
        default_response_class=JSONBody,
        version=beacon.API_VERSION,
        description=(
            "Allele counts and frequencies in the national genome cohort (GRCh38), by sex and "
            "region, as a GA4GH Beacon v2 and as frequency look-ups. Anonymous callers get "
            "yes/no answers for alleles seen at least "
            f"{service.policy.anonymous_min_ac} times; registered tokens get counts with small "
            f"counts shown as <{service.policy.small_count}; controlled tokens get everything."
        ),
    )
    app.state.service = service

    # Data routes first: Starlette tries routes in order, and these carry the load.
    def beacon_answer(
        params: dict[str, Any], granularity: str | None, skip: int, limit: int
    ) -> Answer:
        def answer(principal: Principal) -> tuple[dict[str, Any], int]:
            query = beacon.normalised(
                beacon.parse_request(params, granularity, skip, limit), service.normalised
            )
            index = service.index()
            rows = beacon.match(
                index, query, lambda r: service.visible(index, r, principal.tier), service.max_span
            )
            return beacon.response(index, query, rows, principal.tier, service.policy), len(rows)

        return answer

    @app.get("/g_variants", summary="Beacon v2 genomic variant query (GET)")
    async def g_variants_get(
        request: Request,
        referenceName: str | None = Query(None, description="17 or chr17"),
        start: str | None = Query(None, description="0-based start"),
        end: str | None = Query(None, description="0-based exclusive end (range query)"),
        referenceBases: str | None = Query(None),
        alternateBases: str | None = Query(None),
        assemblyId: str | None = Query(None, description="GRCh38"),
        requestedGranularity: str | None = Query(None, description="boolean, count or record"),
        skip: int = 0,
        limit: int = 10,
    ) -> Response:
        params = {
            "referenceName": referenceName,
            "start": start,
            "end": end,
            "referenceBases": referenceBases,
            "alternateBases": alternateBases,
            "assemblyId": assemblyId,
        }
        answer = beacon_answer(params, requestedGranularity, skip, limit)
        return await service.serve(
            request, "g_variants", {k: v for k, v in params.items() if v}, answer
        )

    async def g_variants_without_injection(request: Request) -> Response:
        """GET /g_variants as g_variants_get answers it, without FastAPI's parameter solving
        (measured in process: ~100 of the ~120 us a request cost) nor Starlette's query
        parsing (querystring.py). A skip or limit that is not an integer is refused as
        FastAPI's validation refuses it (422, audited and charged, nothing echoed)."""
        query = query_parameters(request.scope["query_string"])
        params = {name: query.get(name) for name in BEACON_GET_PARAMETERS}
        pages = [_integer(query.get(name), default) for name, default in PAGE_DEFAULTS]
        if None in pages:
            sent = {"path": request.url.path, "query_string": request.url.query}
            error = ServiceError(422, INVALID_QUERY)
            return await service.refuse(request, "g_variants", sent, error)
        skip, limit = cast(list[int], pages)
        answer = beacon_answer(params, query.get("requestedGranularity"), skip, limit)
        return await service.serve(
            request, "g_variants", {k: v for k, v in params.items() if v}, answer
        )

    @app.post("/g_variants", summary="Beacon v2 genomic variant query (POST)")
    async def g_variants_post(request: Request, body: BeaconRequest) -> Response:
        params = body.query.requestParameters
        answer = beacon_answer(
            params,
            body.query.requestedGranularity,
            int(body.query.pagination.get("skip", 0)),
            int(body.query.pagination.get("limit", 10)),
        )
        return await service.serve(request, "g_variants", params, answer)

    @app.get("/variants/{variant}", summary="Frequencies of one variant by stratum")
    async def variant(request: Request, variant: str) -> Response:
        return await service.serve(
            request, "variants", {"variant": variant}, lambda p: lookup(service, p, variant)
        )

    async def variant_without_injection(request: Request) -> Response:
        return await variant(request, request.path_params["variant"])

    # The busiest endpoint skips FastAPI's per-request dependency solving, about a third of
    # a look-up's server time under load (wrk, 50 clients: ~5,800 against ~7,700 req/s): a
    # plain Starlette route, tried first, calls the same function with the one path value
    # (parse_query validates it). The FastAPI declaration above documents it in OpenAPI.
    app.router.routes.insert(
        0, Route("/variants/{variant}", variant_without_injection, methods=["GET"])
    )
    # Likewise the standard Beacon query (the FastAPI route above documents it).
    app.router.routes.insert(0, Route("/g_variants", g_variants_without_injection, methods=["GET"]))

    @app.post("/variants", summary="Batch look-up: one answer per variant (budget per variant)")
    async def variants_batch(request: Request, body: BatchRequest) -> Response:
        texts = body.variants
        return await service.serve(
            request,
            "variants",
            {"variants": texts},
            lambda p: batch(service, p, texts),
            cost=len(texts),
        )

    @app.get("/region/stream", summary="A whole region as NDJSON or TSV (controlled tokens)")
    async def region_stream(
        request: Request,
        region: str = Query(..., description="chr17:1-83257441 (1-based, inclusive; no cap)"),
        format: str = Query("ndjson", description=" or ".join(STREAM_FORMATS)),
    ) -> Response:
        return await service.serve(
            request,
            "region",
            {"region": region, "format": format},
            lambda p: stream_region(service, p, region, format),
        )

    @app.get("/region", summary="Variants in a region (capped) with frequencies by stratum")
    async def region(
        request: Request,
        region: str = Query(..., description="chr17:43040000-43050000 (1-based, inclusive)"),
    ) -> Response:
        return await service.serve(
            request, "region", {"region": region}, lambda p: answer_region(service, p, region)
        )

    install_refusals(app, service)
    # The two busiest look-ups skip the middleware stack as well (shortcut.py: a fifth of
    # their server time); the plain routes above still answer HEAD, the FastAPI ones
    # document them.
    app.add_middleware(
        Shortcut,
        routes={
            "/g_variants": g_variants_without_injection,
            "/variants/{variant}": variant_without_injection,
        },
    )

    @app.get("/", summary="Beacon information (as /info)")
    @app.get("/info", summary="Beacon information")
    async def info(request: Request) -> Response:
        release = current_release(service.store)
        principal, refusal = service.caller(request)
        fields: tuple[str, ...] = PUBLIC_RELEASE_FIELDS
        if refusal is None and principal.tier is not Tier.ANONYMOUS:
            fields = TOKEN_RELEASE_FIELDS
        return JSONBody(
            {
                "meta": beacon.informational_meta(),
                "response": {
                    "id": beacon.BEACON_ID,
                    "name": beacon.BEACON_NAME,
                    "apiVersion": beacon.API_VERSION,
                    "environment": "prod",
                    "organization": beacon.ORGANISATION,
                    "description": f"Variant frequencies ({ASSEMBLY}) of the national genome cohort",
                    "version": release.release_id if release else "no release yet",
                    "info": {
                        "release": {k: release.meta[k] for k in fields} if release else None,
                        "securityLevels": [t.value for t in Tier],
                    },
                },
            }
        )

    @app.get("/service-info", summary="GA4GH service-info")
    async def service_info() -> Response:
        return JSONBody(
            {
                "id": beacon.BEACON_ID,
                "name": beacon.BEACON_NAME,
                "type": {"group": "org.ga4gh", "artifact": "beacon", "version": beacon.API_VERSION},
                "organization": {
                    "name": beacon.ORGANISATION["name"],
                    "url": beacon.ORGANISATION_URL,
                },
                "version": beacon.API_VERSION,
                "environment": "prod",
            }
        )

    @app.get("/map", summary="Beacon map of endpoints")
    async def beacon_map(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        return JSONBody(
            {
                "meta": beacon.informational_meta(),
                "response": {
                    "$schema": "beaconMapSchema.json",
                    "endpointSets": {
                        "genomicVariant": {
                            "entryType": "genomicVariant",
                            "rootUrl": f"{root}/g_variants",
                            "filteringTermsUrl": f"{root}/filtering_terms",
                            "openAPIEndpointsDefinition": f"{root}/openapi.json",
                        }
                    },
                },
            }
        )

    @app.get("/entry_types", summary="Beacon entry types")
    async def entry_types() -> Response:
        return JSONBody(
            {
                "meta": beacon.informational_meta(),
                "response": {"entryTypes": beacon.entry_types()},
            }
        )

    @app.get("/configuration", summary="Beacon configuration")
    async def configuration() -> Response:
        return JSONBody(
            {
                "meta": beacon.informational_meta(),
                "response": {
                    "$schema": "beaconConfigurationSchema.json",
                    "maturityAttributes": {"productionStatus": "PROD"},
                    "securityAttributes": {
                        "defaultGranularity": "boolean",
                        "securityLevels": list(beacon.SECURITY_LEVELS.values()),
                    },
                    "entryTypes": beacon.entry_types(),
                },
            }
        )

    @app.get("/filtering_terms", summary="Beacon filtering terms (none: queries are by position)")
    async def filtering_terms() -> Response:
        return JSONBody(
            {
                "meta": beacon.informational_meta(),
                "response": {"filteringTerms": [], "resources": []},
            }
        )

    return app


def _integer(text: str | None, default: int) -> int | None:
    """A query parameter as an integer as FastAPI reads one (default when absent), or None
    when it is not one (18 digits at most: more is no page anyone asks for)."""
    if text is None:
        return default
    return int(text) if INTEGER.fullmatch(text) else None


def endpoint_of(request: Request) -> str:
    """The audit log's name for the endpoint a request was aimed at ("other" if none)."""
    head = request.url.path.strip("/").split("/", 1)[0]
    return head if head in DATA_ENDPOINTS else "other"


def install_refusals(app: FastAPI, service: Service) -> None:
    """Route every request turned away before its handler through `Service.refuse`
    (charged, audited, answered without echoing the input): bodies over their limit
    (413), FastAPI's validation errors (422, whose default body quotes the input) and
    Starlette's HTTP errors (unknown path, wrong method, unreadable body)."""

    async def refuse(request: Request, error: ServiceError) -> Response:
        sent = {"path": request.url.path, "query_string": request.url.query}
        return await service.refuse(request, endpoint_of(request), sent, error)

    async def too_large(request: Request) -> Response:
        limit = body_limit(request.url.path)
        return await refuse(request, ServiceError(413, f"request body over {limit:,} bytes"))

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        places = sorted(
            {VALIDATION_PLACES.get(str(next(iter(e["loc"]), "")), "request") for e in errors}
        )
        message = f"invalid {' and '.join(places) or 'request'}: see /docs for the schema"
        return await refuse(request, ServiceError(422, message))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = exc.headers if isinstance(exc, HTTPException) else None
        message = f"{HTTPStatus(status).phrase.lower()}: see /docs for the endpoints"
        return await refuse(request, ServiceError(status, message, headers))

    app.add_middleware(BodyLimit, refuse=too_large)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
