"""The variant-frequency API (FastAPI): GA4GH Beacon v2 plus frequency look-ups by stratum.

Endpoints: `/info`, `/service-info`, `/map`, `/entry_types` (Beacon framework),
`/g_variants` (GET and POST, Beacon v2 genomic variants), `/variants/{variant}` and
`/region?region=chr17:43040000-43050000` (frequencies by stratum); OpenAPI at `/docs`.

Who is asking decides what is shown (privacy.py): no token means anonymous; a token in
`Authorization: Bearer <token>` (or `X-API-Token`) means its registered or controlled
tier. Every data query is charged to a daily budget and written to the audit log
(service.py), and so is every request turned away before a route runs: FastAPI's
validation errors, bodies over the limit (limits.py), unknown paths and methods. Their
error bodies say what was wrong without repeating what was sent.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from genomics_variants.api import beacon
from genomics_variants.api.access import Principal
from genomics_variants.api.jsonbody import JSONBody
from genomics_variants.api.limits import MAX_BODY_BYTES, BodyLimit
from genomics_variants.api.privacy import Policy, Tier
from genomics_variants.api.service import Answer, Service, ServiceError, lookup
from genomics_variants.api.service import region as answer_region
from genomics_variants.assembly import ASSEMBLY
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import MAX_REGION_SPAN, MAX_REGION_VARIANTS
from genomics_variants.frequencies.release import current_release

# What /info tells anyone about a release (per-stratum sample counts can be small: not shown).
PUBLIC_RELEASE_FIELDS = ("release_id", "date", "assembly", "sample_count", "variant_count", "qc")
DATA_ENDPOINTS = ("g_variants", "variants", "region")
# where FastAPI found a validation error (the first item of its `loc`), in words
VALIDATION_PLACES = {"query": "query parameters", "body": "request body", "path": "path"}


class RequestQuery(BaseModel):
    requestParameters: dict[str, Any] = Field(
        default_factory=dict,
        description="assemblyId, referenceName, start (0-based), end, referenceBases, alternateBases",
    )
    requestedGranularity: str | None = Field(default=None, description="boolean, count or record")
    pagination: dict[str, int] = Field(default_factory=dict, description="skip, limit")


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
            visible = service.visible(principal.tier)
            rows = beacon.match(index, query, visible, service.max_span)
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
    ) -> JSONBody:
        params = {
            "referenceName": referenceName,
            "start": start,
            "end": end,
            "referenceBases": referenceBases,
            "alternateBases": alternateBases,
            "assemblyId": assemblyId,
        }
        answer = beacon_answer(params, requestedGranularity, skip, limit)
        return service.serve(request, "g_variants", {k: v for k, v in params.items() if v}, answer)

    @app.post("/g_variants", summary="Beacon v2 genomic variant query (POST)")
    async def g_variants_post(request: Request, body: BeaconRequest) -> JSONBody:
        params = body.query.requestParameters
        answer = beacon_answer(
            params,
            body.query.requestedGranularity,
            int(body.query.pagination.get("skip", 0)),
            int(body.query.pagination.get("limit", 10)),
        )
        return service.serve(request, "g_variants", params, answer)

    @app.get("/variants/{variant}", summary="Frequencies of one variant by stratum")
    async def variant(request: Request, variant: str) -> JSONBody:
        return service.serve(
            request, "variants", {"variant": variant}, lambda p: lookup(service, p, variant)
        )

    async def variant_without_injection(request: Request) -> JSONBody:
        return await variant(request, request.path_params["variant"])

    # The busiest endpoint skips FastAPI's per-request dependency solving, about a third of
    # a look-up's server time under load (wrk, 50 clients: ~5,800 against ~7,700 req/s): a
    # plain Starlette route, tried first, calls the same function with the one path value
    # (parse_query validates it). The FastAPI declaration above documents it in OpenAPI.
    app.router.routes.insert(
        0, Route("/variants/{variant}", variant_without_injection, methods=["GET"])
    )

    @app.get("/region", summary="Variants in a region (capped) with frequencies by stratum")
    async def region(
        request: Request,
        region: str = Query(..., description="chr17:43040000-43050000 (1-based, inclusive)"),
    ) -> JSONBody:
        return service.serve(
            request, "region", {"region": region}, lambda p: answer_region(service, p, region)
        )

    install_refusals(app, service)

    @app.get("/info", summary="Beacon information")
    async def info() -> JSONBody:
        release = current_release(service.store)
        return JSONBody(
            {
                "meta": beacon.meta(None, "boolean"),
                "response": {
                    "id": beacon.BEACON_ID,
                    "name": beacon.BEACON_NAME,
                    "apiVersion": beacon.API_VERSION,
                    "environment": "prod",
                    "organization": beacon.ORGANISATION,
                    "description": f"Variant frequencies ({ASSEMBLY}) of the national genome cohort",
                    "version": release.release_id if release else None,
                    "info": {
                        "release": {k: release.meta[k] for k in PUBLIC_RELEASE_FIELDS}
                        if release
                        else None,
                        "securityLevels": [t.value for t in Tier],
                    },
                },
            }
        )

    @app.get("/service-info", summary="GA4GH service-info")
    async def service_info() -> JSONBody:
        return JSONBody(
            {
                "id": beacon.BEACON_ID,
                "name": beacon.BEACON_NAME,
                "type": {"group": "org.ga4gh", "artifact": "beacon", "version": beacon.API_VERSION},
                "organization": beacon.ORGANISATION,
                "version": beacon.API_VERSION,
                "environment": "prod",
            }
        )

    @app.get("/map", summary="Beacon map of endpoints")
    async def beacon_map(request: Request) -> JSONBody:
        root = str(request.base_url).rstrip("/")
        return JSONBody(
            {
                "meta": beacon.meta(None, "boolean"),
                "response": {
                    "$schema": "beaconMapSchema.json",
                    "endpointSets": {
                        "genomicVariant": {
                            "entryType": "genomicVariant",
                            "rootUrl": f"{root}/g_variants",
                            "openAPIEndpointsDefinition": f"{root}/openapi.json",
                        }
                    },
                },
            }
        )

    @app.get("/entry_types", summary="Beacon entry types")
    async def entry_types() -> JSONBody:
        return JSONBody(
            {
                "meta": beacon.meta(None, "boolean"),
                "response": {
                    "entryTypes": {
                        "genomicVariant": {
                            "id": "genomicVariant",
                            "name": "Genomic variants",
                            "ontologyTermForThisType": {
                                "id": "ENSGLOSSARY:0000092",
                                "label": "Variant",
                            },
                            "partOfSpecification": f"Beacon {beacon.API_VERSION}",
                            "defaultSchema": {
                                "id": beacon.SCHEMA["schema"],
                                "name": "Default schema for a genomic variation",
                                "referenceToSchemaDefinition": "https://github.com/ga4gh-beacon/beacon-v2",
                                "schemaVersion": beacon.API_VERSION,
                            },
                        }
                    }
                },
            }
        )

    return app


def endpoint_of(request: Request) -> str:
    """The audit log's name for the endpoint a request was aimed at ("other" if none)."""
    head = request.url.path.strip("/").split("/", 1)[0]
    return head if head in DATA_ENDPOINTS else "other"


def install_refusals(app: FastAPI, service: Service) -> None:
    """Route every request turned away before its handler through `Service.refuse`
    (charged, audited, answered without echoing the input): bodies over MAX_BODY_BYTES
    (413), FastAPI's validation errors (422, whose default body quotes the input) and
    Starlette's HTTP errors (unknown path, wrong method, unreadable body)."""

    def refuse(request: Request, error: ServiceError) -> Response:
        sent = {"path": request.url.path, "query_string": request.url.query}
        return service.refuse(request, endpoint_of(request), sent, error)

    def too_large(request: Request) -> Response:
        return refuse(request, ServiceError(413, f"request body over {MAX_BODY_BYTES:,} bytes"))

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        places = sorted(
            {VALIDATION_PLACES.get(str(next(iter(e["loc"]), "")), "request") for e in errors}
        )
        message = f"invalid {' and '.join(places) or 'request'}: see /docs for the schema"
        return refuse(request, ServiceError(422, message))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = exc.headers if isinstance(exc, HTTPException) else None
        message = f"{HTTPStatus(status).phrase.lower()}: see /docs for the endpoints"
        return refuse(request, ServiceError(status, message, headers))

    app.add_middleware(BodyLimit, refuse=too_large)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
