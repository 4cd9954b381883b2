"""Bounds on what a request may carry, checked before any work is done for it.

The API is public, so its input is treated as hostile: a body is read only up to
MAX_BODY_BYTES (413 beyond), one parameter may hold MAX_TEXT_CHARS (400 beyond: the longest
legitimate one, a variant id with an indel of a few hundred bases, is far shorter), numbers
are whole and inside the chromosome, and what the audit log keeps of a query is bounded too.
Refusal messages name the parameter and the limit, never the value sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genomics_variants.api.jsonbody import encode_lenient
from medfollow_core.errors import MedfollowError, scrub

MAX_BODY_BYTES = 16_384  # a Beacon POST query is a few hundred bytes
MAX_BATCH_VARIANTS = 10_000  # variants in one batch look-up (POST /variants)
# a batch body: MAX_BATCH_VARIANTS ids of up to ~100 characters each, as JSON
BODY_LIMITS = {"/variants": 1_048_576}
MAX_TEXT_CHARS = 1_024  # one parameter: a variant id, a region, a run of bases
AUDIT_QUERY_CHARS = 2 * MAX_TEXT_CHARS  # a logged query longer than this (as JSON) is cut
AUDIT_PREFIX_CHARS = 64  # what is kept of a cut query, beside its SHA-256 and length
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Refuse = Callable[[Request], Awaitable[Response]]


def bounded_text(name: str, value: str) -> str:
    """`value` unchanged when it fits in one parameter; else a 400 naming only `name`."""
    if len(value) > MAX_TEXT_CHARS:
        raise MedfollowError(f"{name} is longer than {MAX_TEXT_CHARS:,} characters")
    return value


def whole_number(name: str, value: object, high: int) -> int:
    """`value` as an integer in [0, high]: an int, or a string of at most as many ASCII
    digits as `high` has. Booleans, floats (infinity and NaN included), signs and
    5,000-digit strings are refused before any conversion, so none of them can reach the
    index as an overflowing number (a 500 before)."""
    number = -1
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= len(str(high)):
            number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if not 0 <= number <= high:
        raise MedfollowError(f"{name} must be a whole number from 0 to {high:,}")
    return number


def loggable(query: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the audit log keeps of a query: the query itself when it is small (every
    accepted one), else its first characters, SHA-256 and length, so an oversized input is
    recognisable in the log without being written there whole. Anything shaped like a CPR
    number (a caller may type one anywhere) is masked first, the hash taken after masking:
    a hash of a text holding a CPR number could be reversed by trying every number."""
    if len(query) <= 8 and all(
        type(v) is str and len(v) <= MAX_TEXT_CHARS and len(k) <= 64 for k, v in query.items()
    ):
        return {scrub(k): scrub(v) for k, v in query.items()}  # the common case
    text = scrub(encode_lenient(query).decode())
    if len(text) <= AUDIT_QUERY_CHARS:
        return _scrubbed(query)
    return {
        "truncated": text[:AUDIT_PREFIX_CHARS],
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "chars": len(text),
    }


def _scrubbed(value: Any) -> Any:
    """A query's value with every text (keys too) and number shaped like a CPR masked."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and scrub(str(value)) != str(value):
        return scrub(str(value))
    return value


def body_limit(path: str) -> int:
    """The largest body a path accepts: MAX_BODY_BYTES, more only where BODY_LIMITS says."""
    return BODY_LIMITS.get(path, MAX_BODY_BYTES)


def declared_length(scope: Scope) -> int | None:
    """The Content-Length a request declares (None if absent or unreadable; a number too
    long to be under any limit counts as 10^9 without being converted)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value) if len(value) <= 9 else 10**9
    return None


class BodyLimit:
    """ASGI middleware: a request body over its path's limit (body_limit) is refused (413)
    without being read past the limit, whether its size is declared or it arrives chunked; a smaller one
    is read here and handed on unchanged. Methods without a body pass straight through, so
    the look-up routes pay one dictionary access for this."""

    def __init__(self, app: ASGIApp, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        declared, limit = declared_length(scope), body_limit(scope["path"])
        body = None if declared is not None and declared > limit else await _read(receive, limit)
        if body is None:
            response = await self.refuse(Request(scope))
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A receive channel that gives the already-read body first, then the client's own."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
