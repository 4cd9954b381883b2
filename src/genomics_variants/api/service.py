"""The API's working parts behind the routes: who is asking, budgets, audit, and answers.

`Service.serve` wraps every data query: resolve the principal (token or anonymous client),
charge the daily budget, answer, and write an audit line whatever happened. Requests turned
away before a route runs (validation, size, routing) go through it too (`refuse`), so none
is free or unrecorded. Answers come from the current release's served layout on disk
(frequencies/served.py: a sparse block index in memory, blocks read on demand into a
bounded cache), re-opened when a new release is switched in (checked at most once a second).

Whether a tier may know a variant exists is decided from its row's AC before any record is
built: a hidden rare allele reads the same block as an absent allele at its position and
gets the same body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import anyio
import anyio.to_thread
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Request
from starlette.responses import Response, StreamingResponse

from genomics_variants.api import beacon
from genomics_variants.api.access import (
    DEFAULT_BUDGETS,
    AuditLog,
    Budgets,
    Principal,
    TokenStore,
    well_formed,
)
from genomics_variants.api.jsonbody import JSONBody, encode
from genomics_variants.api.limits import bounded_text, loggable
from genomics_variants.api.privacy import (
    Policy,
    Tier,
    as_count,
    disclose,
    observed_floor,
    record_codes,
    shown_allele_numbers,
    shown_count,
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
from genomics_variants.frequencies.served import BlockCache, WouldBlock, nonblocking
from genomics_variants.frequencies.strata import UNKNOWN_COVERAGE_FIELD
from genomics_variants.reference import Reference
from medfollow_core.errors import MedfollowError

RELOAD_CHECK_SECONDS = 1.0
READER_THREADS = 16  # blocks (or whole answers) read from disk at once, per worker
MAX_DISK_WAITS = 4  # blocks one answer may wait for before it is worked out in a thread
LONG_ATTEMPT_SECONDS = 0.002  # a look-up takes ~0.1 ms; past this it is a long answer
Frequencies = dict[str, dict[str, object]]  # FrequencyIndex.record's stratum -> field -> value
# an answer: the body (a document, or a streamed response) and how many results it holds
Answer = Callable[[Principal], tuple[dict[str, Any] | Response, int]]
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
        self._current: FrequencyIndex | None = None  # the release in force
        self._cache = BlockCache.from_environment()
        self._readers: anyio.CapacityLimiter | None = None
        self._reference: Reference | None = None
        self._checked = 0.0
        self._pointer_mtime = -1.0

    def index(self) -> FrequencyIndex:
        """The current release's index, re-loaded when the release pointer changes."""
        now = time.monotonic()
        if self._current is None or now - self._checked > RELOAD_CHECK_SECONDS:
            self._checked = now
            pointer = self.store.releases_dir / "CURRENT"
            mtime = pointer.stat().st_mtime if pointer.exists() else 0.0
            if mtime != self._pointer_mtime:
                release = current_release(self.store)
                if release is not None:
                    self._current = FrequencyIndex(release, self._cache)
                self._pointer_mtime = mtime
        if self._current is None:
            raise ServiceError(503, "no release has been published yet")
        return self._current

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

    def visible(self, index: FrequencyIndex, rows: np.ndarray, tier: Tier) -> np.ndarray:
        """Per row of a release's index, whether this tier may know the variant exists
        (QC-passing AC at or above the tier's floor, privacy.observed_floor). The index is
        the one the rows came from: the release in force may change meanwhile."""
        return index.shown(rows, observed_floor(tier, self.policy))

    def shown_to_anonymous(self, index: FrequencyIndex, variant_id: str) -> bool:
        """Whether an anonymous caller is told this variant exists: the same block read for
        an allele hidden as rare as for one not in the release at all."""
        row = index.row(variant_id)
        found = np.zeros(0, np.int64) if row is None else np.array([row])
        return bool(self.visible(index, found, Tier.ANONYMOUS).any())

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

    async def serve(
        self,
        request: Request,
        endpoint: str,
        query: dict[str, Any],
        answer: Answer,
        cost: int = 1,
    ) -> Response:
        """Authenticate, charge the budget (`cost` queries: one per variant of a batch),
        answer, and audit - whatever the outcome."""
        principal, refusal = self.caller(request)
        status, results = 200, None
        charged = self.budgets.charge(principal, cost)
        try:
            if not charged:
                raise ServiceError(
                    429, f"daily query budget of {principal.budget} exhausted (this costs {cost})"
                )
            if refusal is not None:
                raise refusal
            body, results = await self._answered(answer, principal)
            return body if isinstance(body, Response) else JSONBody(body)
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

    async def refuse(
        self, request: Request, endpoint: str, query: dict[str, Any], error: ServiceError
    ) -> Response:
        """Answer with `error` a request turned away before its route ran (FastAPI's
        validation, the body limit, routing), charged and audited like any other."""

        def refused(_: Principal) -> tuple[dict[str, Any], int]:
            raise error

        return await self.serve(request, endpoint, query, refused)

    async def _answered(
        self, answer: Answer, principal: Principal
    ) -> tuple[dict[str, Any] | Response, int]:
        """The answer, worked out on the event loop while every block it reads is in memory
        (the block cache or the kernel's page cache). A block that must come from disk is
        read in a reader thread while the loop serves other requests, and the answer is
        worked out again on the loop; only the disk wait leaves it, so no answer's Python
        work competes with the loop for the interpreter lock. A long answer (a batch, a
        region: its attempt ran past LONG_ATTEMPT_SECONDS before the miss), and one that
        still misses after MAX_DISK_WAITS reads, is worked out in a reader thread whole,
        so the loop never does a long answer's work twice."""
        if self._readers is None:
            self._readers = anyio.CapacityLimiter(READER_THREADS)
        for _ in range(MAX_DISK_WAITS):
            started = time.perf_counter()
            try:
                with nonblocking():
                    return answer(principal)
            except WouldBlock as missing:
                if time.perf_counter() - started > LONG_ATTEMPT_SECONDS:
                    break
                await anyio.to_thread.run_sync(missing.fetch, limiter=self._readers)
        return await anyio.to_thread.run_sync(answer, principal, limiter=self._readers)

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
        present = service.shown_to_anonymous(index, query.variant_id)
        return _yes_no(query, index, present), int(present)
    row = index.row(query.variant_id)
    if row is None or not service.visible(index, np.array([row]), principal.tier)[0]:
        covered = shown_allele_numbers(
            index.callable_an(query.chrom, query.pos), principal.tier, service.policy
        )
        body = _yes_no(query, index, False) | {"callable_an": covered}
        return body | _unknown_coverage(service, index, principal.tier, row), 0
    return _record(service, index, principal.tier, row), 1


def _record(service: Service, index: FrequencyIndex, tier: Tier, row: int) -> dict[str, Any]:
    """One listed variant (a row of `index`) as a registered or controlled user sees it."""
    record = index.record(row)
    codes = record_codes(cast(Frequencies, record["frequencies"]), service.policy)
    body = disclose(record, tier, service.policy, codes)
    return body | _unknown_coverage(service, index, tier, row)


def _unknown_coverage(
    service: Service, index: FrequencyIndex, tier: Tier, row: int | None
) -> dict[str, Any]:
    """ "Also seen in N samples of unknown coverage" (strata.py) under the tier's rule; 0 for
    a variant the release does not list (and for releases made before the count was kept).
    A count on `all` only, in no sum with other counts: "<5" alone hides it."""
    seen = 0
    if row is not None and UNKNOWN_COVERAGE_FIELD in index.names:
        seen = int(as_count(index.value(UNKNOWN_COVERAGE_FIELD, row)) or 0)
    return {UNKNOWN_COVERAGE_FIELD: shown_count(seen, tier, service.policy)}


def _yes_no(query: VariantQuery, index: FrequencyIndex, present: bool) -> dict[str, Any]:
    """The short answer: the variant as normalised, the release, and whether it is shown."""
    return {"variant_id": query.variant_id, "release": index.release.release_id, "exists": present}


def region(service: Service, principal: Principal, text: str) -> tuple[dict[str, Any], int]:
    """The variants of a region (capped) as this principal may see them; (body, results)."""
    query = parsed(text)
    if not isinstance(query, RegionQuery):
        raise MedfollowError("give a region here (e.g. chr17:43040000-43050000)")
    index = service.index()
    answer = index.region(query, max_span=service.max_span, max_variants=len(index))
    # the tier's mask comes before the cap, so `truncated` counts only variants the tier may
    # know of (an anonymous caller cannot bisect region ends towards a hidden rare allele)
    shown = answer.rows[service.visible(index, answer.rows, principal.tier)]
    rows = shown[: service.max_variants]
    head = {
        "region": f"{query.chrom}:{query.start}-{query.end}",
        "release": index.release.release_id,
        "limits": {"max_span_bp": service.max_span, "max_variants": service.max_variants},
        "truncated": len(shown) > service.max_variants,
    }
    if principal.tier is Tier.ANONYMOUS:
        return {**head, "exists": bool(len(rows))}, int(bool(len(rows)))
    records = [_record(service, index, principal.tier, r) for r in rows.tolist()]
    return {**head, "count": len(records), "variants": records}, len(records)


def batch(service: Service, principal: Principal, texts: list[str]) -> tuple[dict[str, Any], int]:
    """One answer per variant, in the order given, each exactly what `lookup` gives this
    principal for it (tier rules included); a variant that cannot be read gets an error
    entry (which, like every refusal, does not repeat it). The caller charges the budget
    one query per variant before this runs."""
    answers: list[dict[str, Any]] = []
    found = 0
    for text in texts:
        try:
            body, shown = lookup(service, principal, text)
        except MedfollowError as exc:
            body, shown = {"error": str(exc)}, 0
        answers.append(body)
        found += shown
    release = service.index().release.release_id
    return {"release": release, "count": len(answers), "results": answers}, found


STREAM_FORMATS = {"ndjson": "application/x-ndjson", "tsv": "text/tab-separated-values"}
STREAM_CHUNK = 1_000  # variants encoded per chunk written


def stream_region(
    service: Service, principal: Principal, text: str, form: str
) -> tuple[Response, int]:
    """A whole region (any span inside one chromosome, no variant cap) streamed as NDJSON
    (one controlled record per line, as /variants gives it) or TSV (the release's columns);
    controlled users only, since no other tier may see records in bulk."""
    if principal.tier is not Tier.CONTROLLED:
        raise ServiceError(403, "streaming a region is for controlled tokens")
    if form not in STREAM_FORMATS:
        raise MedfollowError(f"format must be one of {', '.join(STREAM_FORMATS)}")
    query = parsed(text)
    if not isinstance(query, RegionQuery):
        raise MedfollowError("give a region here (e.g. chr17:43040000-43050000)")
    index = service.index()
    rows = index.between(query.chrom, query.start, query.end)
    rows = rows[service.visible(index, rows, principal.tier)]
    chunks = _tsv_chunks(index, rows) if form == "tsv" else _ndjson_chunks(service, index, rows)
    return StreamingResponse(chunks, media_type=STREAM_FORMATS[form]), len(rows)


def _ndjson_chunks(service: Service, index: FrequencyIndex, rows: np.ndarray) -> Iterator[bytes]:
    for start in range(0, len(rows), STREAM_CHUNK):
        lines = [
            encode(_record(service, index, Tier.CONTROLLED, row))
            for row in rows[start : start + STREAM_CHUNK].tolist()
        ]
        yield b"\n".join(lines) + b"\n"


def _tsv_chunks(index: FrequencyIndex, rows: np.ndarray) -> Iterator[bytes]:
    """The release's own columns (strata.py names them), header first; nulls empty."""
    yield ("\t".join(index.names) + "\n").encode()
    options = pacsv.WriteOptions(include_header=False, delimiter="\t")
    for start in range(0, len(rows), STREAM_CHUNK):
        table = index.table(rows[start : start + STREAM_CHUNK])
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, options)
        yield sink.getvalue().to_pybytes()
