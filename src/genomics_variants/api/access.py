"""API tokens (stored hashed), per-user daily query budgets and the audit log.

Tokens are random (256 bits) and shown once when created; the store keeps only their
SHA-256, which is enough to recognise a token and useless to recover one (unlike a CPR
number, a random token cannot be enumerated). Every query - allowed or refused - is
appended to `access/audit/queries-YYYYMMDD.jsonl` with who asked, from where, what, and the
outcome. Budgets count a principal's queries per UTC day in small counter files
(`access/budgets/YYYYMMDD/<principal hash>`) updated under a file lock, so they hold across
server processes and restarts.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from genomics_variants.api.jsonbody import encode_lenient
from genomics_variants.api.privacy import Tier
from medfollow_core.errors import MedfollowError

TOKEN_PREFIX = "mfv_"
DEFAULT_BUDGETS = {Tier.ANONYMOUS: 1_000, Tier.REGISTERED: 10_000, Tier.CONTROLLED: 0}
# RFC 6750 b64token characters; ours are TOKEN_PREFIX + 43 URL-safe base64 characters
TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/="
MAX_TOKEN_CHARS = 256


def well_formed(token: str) -> bool:
    """Whether `token` could be a bearer token at all (checked in linear time, before it is
    hashed or looked up): non-empty, not over MAX_TOKEN_CHARS, only b64token characters."""
    return 0 < len(token) <= MAX_TOKEN_CHARS and not token.strip(TOKEN_CHARS)


@lru_cache(maxsize=4096)
def token_hash(token: str) -> str:
    """SHA-256 of a token (remembered for the tokens in use: one per request otherwise)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def utc_day() -> str:
    """Today's UTC date as YYYYMMDD (formatted once per day, not once per query)."""
    return _day_text(int(time.time() // 86_400))


@lru_cache(maxsize=2)
def _day_text(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y%m%d")


def utc_timestamp() -> str:
    """Now as `datetime.now(UTC).isoformat(timespec="milliseconds")` writes it, with the
    date and time of day formatted once per second rather than once per query."""
    second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return f"{_second_text(second)}.{nanoseconds // 1_000_000:03d}+00:00"


@lru_cache(maxsize=2)
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's name and tier, or an anonymous client by address.
    `budget` is queries per UTC day (0 = unlimited)."""

    name: str
    tier: Tier
    budget: int


class TokenStore:
    """`access/tokens.json`: name, tier, daily budget and SHA-256 of each token."""

    def __init__(self, access_dir: Path, recheck_seconds: float = 1.0) -> None:
        self.path = Path(access_dir) / "tokens.json"
        self._mtime = -1.0
        self._checked = -1e9
        self._recheck = recheck_seconds
        self._by_hash: dict[str, Principal] = {}

    def _entries(self) -> list[dict[str, Any]]:  # the parsed JSON token file
        if not self.path.exists():
            return []
        return list(json.loads(self.path.read_text(encoding="utf-8")))

    def _save(self, entries: list[dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(".tokens.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2)
        os.replace(tmp, self.path)

    def add(self, name: str, tier: Tier, budget: int | None = None) -> str:
        """Create a token for `name`; returns it (the only time it is seen). Running servers
        pick it up within a second."""
        if tier is Tier.ANONYMOUS:
            raise MedfollowError("tokens are for registered or controlled users")
        entries = self._entries()
        if any(e["name"] == name for e in entries):
            raise MedfollowError(f"a token named {name!r} exists; revoke it first")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entries.append(
            {
                "name": name,
                "tier": tier.value,
                "budget": DEFAULT_BUDGETS[tier] if budget is None else budget,
                "sha256": token_hash(token),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        self._save(entries)
        return token

    def revoke(self, name: str) -> bool:
        entries = self._entries()
        kept = [e for e in entries if e["name"] != name]
        self._save(kept)
        return len(kept) != len(entries)

    def listing(self) -> list[dict[str, object]]:
        """Tokens without their hashes."""
        return [{k: v for k, v in e.items() if k != "sha256"} for e in self._entries()]

    def resolve(self, token: str) -> Principal | None:
        """The principal of a presented token, or None (re-reads the file when it changes,
        looking at most once per `recheck_seconds`)."""
        now = time.monotonic()
        if now - self._checked >= self._recheck:
            self._checked = now
            mtime = self.path.stat().st_mtime if self.path.exists() else 0.0
            if mtime != self._mtime:
                self._reload(mtime)
        return self._by_hash.get(token_hash(token))

    def _reload(self, mtime: float) -> None:
        self._by_hash = {
            str(e["sha256"]): Principal(str(e["name"]), Tier(str(e["tier"])), int(e["budget"]))
            for e in self._entries()
        }
        self._mtime = mtime


class AuditLog:
    """Append-only JSON lines, one file per UTC day; thread-safe.

    Inside a running event loop (the API server) lines are written once per loop turn:
    every query answered in that turn goes out together right after, one system call
    instead of one per query. Outside a loop each line is written at once. Each write is
    whole lines in one `write` on a file opened for appending, so the lines of several
    worker processes sharing the day's file never interleave inside a line.
    """

    def __init__(self, access_dir: Path) -> None:
        self.folder = Path(access_dir) / "audit"
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []  # (day, line) not yet written
        self._flush_scheduled = False
        self._open: tuple[str, int] | None = None  # (day, descriptor) of the day's file

    def path_for(self, day: str) -> Path:
        return self.folder / f"queries-{day}.jsonl"

    def write(self, entry: dict[str, object]) -> None:
        ts = utc_timestamp()
        line = encode_lenient({"ts": ts, **entry}).decode()
        day = ts[:10].replace("-", "")  # YYYYMMDD of the same instant
        with self._lock:
            self._pending.append((day, line + "\n"))
            if self._flush_scheduled:
                return
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._flush_scheduled = True
                return
            except RuntimeError:  # no event loop: write through
                pass
        self.flush()

    def flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            pending, self._pending = self._pending, []
            for day in dict.fromkeys(d for d, _ in pending):  # a turn may span midnight
                text = "".join(line for d, line in pending if d == day).encode("utf-8")
                fd = self._descriptor(day)
                while text:
                    text = text[os.write(fd, text) :]

    def _descriptor(self, day: str) -> int:
        if self._open is not None and self._open[0] != day:
            os.close(self._open[1])
            self._open = None
        if self._open is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._open = (day, os.open(self.path_for(day), flags, 0o600))
        return self._open[1]

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._open is not None:
                os.close(self._open[1])
                self._open = None


class Budgets:
    """Daily query counters per principal, shared by server processes (one locked file each).

    Each process takes its principal's queries from the file in blocks of 0.1 % of the
    budget (at least one) and spends them locally, so a busy principal costs one locked
    file update per block rather than per query. The file counts queries handed out, so
    the budget is never exceeded; at worst a principal is refused while another process
    still holds part of a block (under 0.1 % of the budget per process, exact below 2,000).
    """

    BLOCK_FRACTION = 1_000
    MAX_OPEN_FILES = 256  # counter files kept open; anonymous callers can bring any number

    def __init__(self, access_dir: Path) -> None:
        self.folder = Path(access_dir) / "budgets"
        self._files: dict[tuple[str, str], int] = {}
        self._held: dict[tuple[str, str], int] = {}  # taken from the file, not yet spent
        self._lock = threading.Lock()

    def _key(self, principal: Principal) -> tuple[str, str]:
        key = (utc_day(), principal.name)
        if self._files and next(iter(self._files))[0] != key[0]:
            self.close()  # a new day: yesterday's counters are done
        return key

    def _fd(self, key: tuple[str, str]) -> int:
        fd = self._files.get(key)
        if fd is None:
            if len(self._files) >= self.MAX_OPEN_FILES:  # the longest-open one goes
                os.close(self._files.pop(next(iter(self._files))))
            folder = self.folder / key[0]
            folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(key[1].encode("utf-8")).hexdigest()[:32]
            fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
            self._files[key] = fd
        return fd

    def _take(self, key: tuple[str, str], budget: int, want: int) -> int:
        """Queries handed out today (want = 0), or hand out up to `want` more and return
        how many were granted."""
        fd = self._fd(key)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, 8, 0)
            used = int.from_bytes(raw, "little") if len(raw) == 8 else 0
            if not want:
                return used
            granted = max(0, min(want, budget - used))
            if granted:
                os.pwrite(fd, (used + granted).to_bytes(8, "little"), 0)
            return granted
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def charge(self, principal: Principal, count: int = 1) -> bool:
        """Count `count` queries (a batch look-up costs one per variant); False, with
        nothing spent, when fewer than that are left today.

        An unlimited principal (budget 0) has nothing to enforce and is not counted here
        (its queries are in the audit log).
        """
        if not principal.budget:
            return True
        with self._lock:
            key = self._key(principal)
            held = self._held.get(key, 0)
            if held < count:
                block = max(1, principal.budget // self.BLOCK_FRACTION)
                held += self._take(key, principal.budget, max(block, count - held))
                self._held[key] = held  # kept even when short: handed out, not lost
                if held < count:
                    return False
            self._held[key] = held - count
            return True

    def remaining(self, principal: Principal) -> int | None:
        """Queries left today across all processes (those held unspent count as used)."""
        if not principal.budget:
            return None
        with self._lock:
            key = self._key(principal)
            return max(0, principal.budget - self._take(key, principal.budget, 0))

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        self._held.clear()
