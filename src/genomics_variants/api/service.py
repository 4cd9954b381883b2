"""The API's working parts behind the routes: who is asking, budgets, audit, and answers.

`Service.serve` wraps every data query: resolve the principal (token or anonymous client),
charge the daily budget, answer, and write an audit line whatever happened. Requests turned
away before a route runs (validation, size, routing) go through it too (`refuse`), so none
is free or unrecorded. Answers come from an in-memory index of the current release,
re-loaded when a new release is switched in (checked at most once a second), so a look-up
is a dictionary access.

Anonymous answers are decided before any record is built: per release, the ids and rows
an anonymous caller may know of are computed once, so a hidden rare allele costs exactly
what an absent one does (one set miss) and gets the same body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from fastapi import Request

from genomics_variants.api import beacon
from genomics_variants.api.access import (
    DEFAULT_BUDGETS,
    AuditLog,
    Budgets,
    Principal,
    TokenStore,
    well_formed,
)
from genomics_variants.api.jsonbody import JSONBody
from genomics_variants.api.limits import bounded_text, loggable
from genomics_variants.api.privacy import (
    Codes,
    Policy,
    Tier,
    disclose,
    floors,
    observed_floor,
    suppression_codes,
)
from genomics_variants.assembly import CONTIG_LENGTHS
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
UNREADABLE = (
    "cannot read the query: give a variant (17-43045711-G-A, chr17:43045711 G>A) "
    "or a region (chr17:43040000-43050000) inside the chromosome"
)
BAD_CREDENTIALS = "give the token as 'Authorization: Bearer <token>' (or X-API-Token)"


class ServiceError(Exception):
    """An HTTP error with a one-line message (and the headers that go with it)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def unauthorised(message: str) -> ServiceError:
    """A 401 telling the client which scheme is expected (RFC 6750)."""
    return ServiceError(401, message, {"WWW-Authenticate": "Bearer"})


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
        self._visible: dict[Tier, np.ndarray] = {}
        self._anonymous_ids: frozenset[str] = frozenset()
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
                    self._visible = release_visibility(index, self.policy)
                    ids = index.columns["variant_id"][self._visible[Tier.ANONYMOUS]]
                    self._anonymous_ids = frozenset(ids.tolist())
                    self._index = index
                self._pointer_mtime = mtime
        if self._index is None:
            raise ServiceError(503, "no release has been published yet")
        return self._index

    def normalised(self, query: VariantQuery) -> VariantQuery:
        """A typed variant in the normalised form releases use (an indel left-aligned and
        trimmed, so any spelling of it is found), checked against the store's reference;
        unchanged when that reference is unknown. SNVs need neither. (The checker's own
        refusal quotes the typed REF; this one does not.)"""
        if len(query.ref) == len(query.alt) == 1:
            return query
        if self._reference is None:
            fasta = self.store.reference
            if fasta is None:
                return query
            self._reference = Reference(fasta)
        try:
            return normalise_query(query, self._reference)
        except MedfollowError:
            raise MedfollowError(
                "REF does not match the reference at that position (or the reference "
                "does not cover it)"
            ) from None

    def visible(self, tier: Tier) -> np.ndarray:
        """Per row of the release in force, whether this tier may know the variant exists."""
        return self._visible[tier]

    def shown_to_anonymous(self, variant_id: str) -> bool:
        """Whether an anonymous caller is told this variant exists: one set look-up, the
        same for an allele hidden as rare as for one not in the release at all."""
        return variant_id in self._anonymous_ids

    def codes(self, row: int) -> Codes:
        """The suppression codes of one row of the release in force (see release_codes)."""
        return {count: dict(zip(STRATA, m[row].tolist())) for count, m in self._codes.items()}  # noqa: B905

    def caller(self, request: Request) -> tuple[Principal, ServiceError | None]:
        """Who is asking, and the refusal when credentials are sent but are not good ones.

        A request with bad credentials is never answered as anonymous (a mistyped scheme
        would silently lose the caller's tier); it is charged to the client's address like
        an anonymous one, so guessing tokens spends that address's budget.
        """
        try:
            token = credentials(request)
        except ServiceError as exc:
            return anonymous(request), exc
        if token is None:
            return anonymous(request), None
        principal = self.tokens.resolve(token)
        if principal is None:
            return anonymous(request), unauthorised("unknown or revoked API token")
        return principal, None

    def serve(
        self,
        request: Request,
        endpoint: str,
        query: dict[str, Any],
        answer: Answer,
    ) -> JSONBody:
        """Authenticate, charge the budget, answer, and audit - whatever the outcome."""
        principal, refusal = self.caller(request)
        status, results = 200, None
        charged = self.budgets.charge(principal)
        try:
            if not charged:
                raise ServiceError(429, f"daily query budget of {principal.budget} exhausted")
            if refusal is not None:
                raise refusal
            body, results = answer(principal)
            return JSONBody(body)
        except ServiceError as exc:
            status = exc.status
            return JSONBody(
                self.error_body(endpoint, status, str(exc)), status_code=status, headers=exc.headers
            )
        except MedfollowError as exc:
            status = 400
            return JSONBody(self.error_body(endpoint, status, str(exc)), status_code=status)
        except Exception:
            status = 500
            raise
        finally:
            self.audit.write(
                {
                    "principal": principal.name,
                    "tier": principal.tier.value,
                    "client": request.client.host if request.client else None,
                    "endpoint": endpoint,
                    "query": loggable(query),
                    "status": status,
                    "results": results,
                    "charged": charged,
                }
            )

    def refuse(
        self, request: Request, endpoint: str, query: dict[str, Any], error: ServiceError
    ) -> JSONBody:
        """Answer with `error` a request turned away before its route ran (FastAPI's
        validation, the body limit, routing), charged and audited like any other."""

        def refused(_: Principal) -> tuple[dict[str, Any], int]:
            raise error

        return self.serve(request, endpoint, query, refused)

    @staticmethod
    def error_body(endpoint: str, status: int, message: str) -> dict[str, Any]:
        if endpoint == "g_variants":
            return beacon.error(status, message)
        return {"error": {"status": status, "message": message}}


def credentials(request: Request) -> str | None:
    """The token a request presents, or None when it presents none. A credentials header
    that is there but holds no well-formed bearer token (another scheme, empty, spaces,
    odd characters) is a 401, not an anonymous request."""
    header = request.headers.get("authorization")
    if header is not None:
        token = header[7:].strip()
        if header[:7].lower() != "bearer " or not well_formed(token):
            raise unauthorised(BAD_CREDENTIALS)
        return token
    other = request.headers.get("x-api-token")
    if other is None:
        return None
    if not well_formed(other.strip()):
        raise unauthorised(BAD_CREDENTIALS)
    return other.strip()


def anonymous(request: Request) -> Principal:
    """An anonymous caller, known by the address of the client (the socket's peer, or what
    a trusted proxy says: server.py)."""
    client = request.client.host if request.client else "unknown"
    return Principal(f"anonymous:{client}", Tier.ANONYMOUS, DEFAULT_BUDGETS[Tier.ANONYMOUS])


def release_visibility(index: FrequencyIndex, policy: Policy) -> dict[Tier, np.ndarray]:
    """Per tier, which rows of a release it may know exist (QC-passing AC at or above the
    tier's floor; a null AC is never shown), computed once when the release is loaded."""
    ac = np.asarray(index.columns["ac"])
    if ac.dtype.kind == "f":
        ac = np.nan_to_num(ac, nan=0.0)
    return {tier: ac >= observed_floor(tier, policy) for tier in Tier}


def parsed(text: str) -> VariantQuery | RegionQuery:
    """A variant or region typed by a caller, read in time linear in its length.

    The text is bounded first, then each run of whitespace is made one space: the only
    ambiguity in parse_query's patterns is a whitespace run that neighbouring `\\s*` could
    share, which backtracks quadratically in its length (seconds for a crafted 100 kB id,
    stalling every other caller). parse_query's refusals quote the text; this one does not.
    """
    words = bounded_text("the query", text).split()
    try:
        query = parse_query(" ".join(words))
    except MedfollowError:
        raise MedfollowError(UNREADABLE) from None
    length = CONTIG_LENGTHS[query.chrom]
    last = query.pos if isinstance(query, VariantQuery) else query.end
    if not 1 <= last <= length:
        raise MedfollowError(f"positions on {query.chrom} run from 1 to {length:,}")
    return query


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
    """One variant (any accepted spelling) as this principal may see it; (body, results).

    Whether the variant is shown is decided before any record is built. An anonymous
    answer always has the same three fields, whether the allele is common, hidden or absent.
    """
    query = parsed(text)
    if not isinstance(query, VariantQuery):
        raise MedfollowError("give one variant here (e.g. 17-43045711-G-A); regions go to /region")
    query = service.normalised(query)
    index = service.index()
    if principal.tier is Tier.ANONYMOUS:
        present = service.shown_to_anonymous(query.variant_id)
        return _yes_no(query, index, present), int(present)
    row = index.row(query.variant_id)
    if row is None or not service.visible(principal.tier)[row]:
        return _yes_no(query, index, False), 0
    return disclose(index.record(row), principal.tier, service.policy, service.codes(row)), 1


def _yes_no(query: VariantQuery, index: FrequencyIndex, present: bool) -> dict[str, Any]:
    """The short answer: the variant as normalised, the release, and whether it is shown."""
    return {"variant_id": query.variant_id, "release": index.release.release_id, "exists": present}


def region(service: Service, principal: Principal, text: str) -> tuple[dict[str, Any], int]:
    """The variants of a region (capped) as this principal may see them; (body, results)."""
    query = parsed(text)
    if not isinstance(query, RegionQuery):
        raise MedfollowError("give a region here (e.g. chr17:43040000-43050000)")
    index = service.index()
    answer = index.region(query, max_span=service.max_span, max_variants=service.max_variants)
    rows = answer.rows[service.visible(principal.tier)[answer.rows]]  # before any record
    head = {
        "region": f"{query.chrom}:{query.start}-{query.end}",
        "release": index.release.release_id,
        "limits": {"max_span_bp": service.max_span, "max_variants": answer.limit},
        "truncated": answer.truncated,
    }
    if principal.tier is Tier.ANONYMOUS:
        return {**head, "exists": bool(len(rows))}, int(bool(len(rows)))
    records = [
        disclose(index.record(r), principal.tier, service.policy, service.codes(r))
        for r in rows.tolist()
    ]
    return {**head, "count": len(records), "variants": records}, len(records)
