"""The API's working parts behind the routes: who is asking, budgets, audit, and answers.

`Service.serve` wraps every data query: resolve the principal (token or anonymous client),
charge the daily budget, answer, and write an audit line whatever happened. Answers come
from an in-memory index of the current release, re-loaded when a new release is switched
in (checked at most once a second), so a look-up is a dictionary access.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import Request

from genomics_variants.api import beacon
from genomics_variants.api.access import DEFAULT_BUDGETS, AuditLog, Budgets, Principal, TokenStore
from genomics_variants.api.jsonbody import JSONBody
from genomics_variants.api.privacy import Codes, Policy, Tier, disclose, floors, suppression_codes
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import (
    FrequencyIndex,
    RegionQuery,
    VariantQuery,
    normalise_query,
    parse_query,
)
from genomics_variants.frequencies.release import current_release
from genomics_variants.frequencies.strata import STRATA, column
from genomics_variants.reference import Reference
from medfollow_core.errors import MedfollowError

RELOAD_CHECK_SECONDS = 1.0
Answer = Callable[[Principal], tuple[dict[str, Any], int]]


class ServiceError(Exception):
    """An HTTP error with a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Service:
    """Shared state: the release index, tokens, budgets, audit log and limits."""

    def __init__(self, store: Store, policy: Policy, max_span: int, max_variants: int) -> None:
        self.store = store
        self.policy = policy
        self.max_span = max_span
        self.max_variants = max_variants
        self.tokens = TokenStore(store.access_dir)
        self.audit = AuditLog(store.access_dir)
        self.budgets = Budgets(store.access_dir)
        self._index: FrequencyIndex | None = None
        self._codes: dict[str, np.ndarray] = {}
        self._reference: Reference | None = None
        self._checked = 0.0
        self._pointer_mtime = -1.0

    def index(self) -> FrequencyIndex:
        """The current release's index, re-loaded when the release pointer changes."""
        now = time.monotonic()
        if self._index is None or now - self._checked > RELOAD_CHECK_SECONDS:
            self._checked = now
            pointer = self.store.releases_dir / "CURRENT"
            mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
            if mtime != self._pointer_mtime:
                release = current_release(self.store)
                if release is not None:
                    index = FrequencyIndex(release)
                    self._codes = release_codes(index, self.policy)
                    self._index = index
                self._pointer_mtime = mtime
        if self._index is None:
            raise ServiceError(503, "no release has been published yet")
        return self._index

    def normalised(self, query: VariantQuery) -> VariantQuery:
        """A typed variant in the normalised form releases use (an indel left-aligned and
        trimmed, so any spelling of it is found), checked against the store's reference;
        unchanged when that reference is unknown. SNVs need neither."""
        if len(query.ref) == len(query.alt) == 1:
            return query
        if self._reference is None:
            fasta = self.store.reference
            if fasta is None:
                return query
            self._reference = Reference(fasta)
        return normalise_query(query, self._reference)

    def codes(self, row: int) -> Codes:
        """The suppression codes of one row of the release in force (see release_codes)."""
        return {count: dict(zip(STRATA, m[row].tolist())) for count, m in self._codes.items()}  # noqa: B905

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        token = (
            header[7:].strip()
            if header.lower().startswith("bearer ")
            else request.headers.get("x-api-token")
        )
        if token:
            principal = self.tokens.resolve(token)
            if principal is None:
                raise ServiceError(401, "unknown or revoked API token")
            return principal
        client = request.client.host if request.client else "unknown"
        return Principal(f"anonymous:{client}", Tier.ANONYMOUS, DEFAULT_BUDGETS[Tier.ANONYMOUS])

    def serve(
        self,
        request: Request,
        endpoint: str,
        query: dict[str, Any],
        answer: Answer,
    ) -> JSONBody:
        """Authenticate, charge the budget, answer, and audit - whatever the outcome."""
        principal: Principal | None = None
        status, results, charged = 200, None, False
        try:
            principal = self.principal(request)
            charged = self.budgets.charge(principal)
            if not charged:
                raise ServiceError(429, f"daily query budget of {principal.budget} exhausted")
            body, results = answer(principal)
            return JSONBody(body)
        except ServiceError as exc:
            status = exc.status
            return JSONBody(self.error_body(endpoint, status, str(exc)), status_code=status)
        except MedfollowError as exc:
            status = 400
            return JSONBody(self.error_body(endpoint, status, str(exc)), status_code=status)
        except Exception:
            status = 500
            raise
        finally:
            self.audit.write(
                {
                    "principal": principal.name if principal else None,
                    "tier": principal.tier.value if principal else None,
                    "client": request.client.host if request.client else None,
                    "endpoint": endpoint,
                    "query": query,
                    "status": status,
                    "results": results,
                    "charged": charged,
                }
            )

    @staticmethod
    def error_body(endpoint: str, status: int, message: str) -> dict[str, Any]:
        if endpoint == "g_variants":
            return beacon.error(status, message)
        return {"error": {"status": status, "message": message}}


def release_codes(index: FrequencyIndex, policy: Policy) -> dict[str, np.ndarray]:
    """Per suppressed count, a (variants, strata) matrix of suppression codes for a whole
    release, computed once when it is loaded (vectorised), so answering does not redo it."""
    return {
        count: np.stack(
            [
                suppression_codes(
                    {s: index.columns[column(count, s)].astype(np.int64) for s in STRATA}, floor
                )[s]
                for s in STRATA
            ],
            axis=1,
        )
        for count, floor in floors(policy).items()
    }


def lookup(service: Service, principal: Principal, text: str) -> tuple[dict[str, Any], int]:
    """One variant (any accepted spelling) as this principal may see it; (body, results)."""
    query = parse_query(text)
    if not isinstance(query, VariantQuery):
        raise MedfollowError("give one variant here (e.g. 17-43045711-G-A); regions go to /region")
    query = service.normalised(query)
    index = service.index()
    row = index.row(query.variant_id)
    if row is None:
        return {
            "variant_id": query.variant_id,
            "release": index.release.release_id,
            "exists": False,
        }, 0
    shown = disclose(index.record(row), principal.tier, service.policy, service.codes(row))
    if not shown["exists"]:
        shown = {
            "variant_id": query.variant_id,
            "release": index.release.release_id,
            "exists": False,
        }
    return shown, int(bool(shown["exists"]))


def region(service: Service, principal: Principal, text: str) -> tuple[dict[str, Any], int]:
    """The variants of a region (capped) as this principal may see them; (body, results)."""
    query = parse_query(text)
    if not isinstance(query, RegionQuery):
        raise MedfollowError("give a region here (e.g. chr17:43040000-43050000)")
    index = service.index()
    answer = index.region(query, max_span=service.max_span, max_variants=service.max_variants)
    records = [
        disclose(index.record(r), principal.tier, service.policy, service.codes(r))
        for r in answer.rows.tolist()
    ]
    records = [r for r in records if r["exists"]]
    head = {
        "region": f"{query.chrom}:{query.start}-{query.end}",
        "release": index.release.release_id,
        "limits": {"max_span_bp": service.max_span, "max_variants": answer.limit},
        "truncated": answer.truncated,
    }
    if principal.tier is Tier.ANONYMOUS:
        return {**head, "exists": bool(records)}, int(bool(records))
    return {**head, "count": len(records), "variants": records}, len(records)
