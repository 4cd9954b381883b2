"""Keyed pseudonyms: the same CPR always gives the same ``person_key``, and nobody without
the key can go back.

An unkeyed hash of a CPR number is reversible by enumerating the few hundred million valid
numbers, so the pseudonym is HMAC-SHA256 under a secret key. The key comes from the secret
store: the ``MEDFOLLOW_PSEUDONYM_KEY`` environment variable (hex), which Airflow deployments
fill from a connection or secrets backend, or for local runs a key file outside the
repository (``~/.config/medfollow/pseudonym.key`` by default) that ``medfollow key init``
creates. Rotating the key means re-keying every table.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.errors import MedfollowError

KEY_ENV = "MEDFOLLOW_PSEUDONYM_KEY"
KEY_FILE_ENV = "MEDFOLLOW_PSEUDONYM_KEY_FILE"


def default_key_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return Path(os.environ.get(KEY_FILE_ENV, base / "medfollow" / "pseudonym.key"))


def load_key(secret: str | None = None, origin: str = "the secrets backend") -> bytes:
    """The pseudonymisation key: ``secret`` (from a secrets backend) if given, else the
    ``MEDFOLLOW_PSEUDONYM_KEY`` environment variable, else the local key file."""
    text = secret
    if not text:
        text, origin = os.environ.get(KEY_ENV), KEY_ENV
    if not text:
        path = default_key_file()
        if not path.exists():
            raise MedfollowError(
                f"no pseudonymisation key: set {KEY_ENV} or create one with `medfollow key init`"
            )
        text, origin = path.read_text().strip(), str(path)
    return parse_key(text, origin)


def parse_key(text: str, origin: str) -> bytes:
    """A hex key of at least 256 bits; every source of the key goes through here."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise MedfollowError(f"pseudonymisation key from {origin} is not hex") from None
    if len(key) < 32:
        raise MedfollowError(f"pseudonymisation key from {origin} is shorter than 256 bits")
    return key


def create_key_file(path: Path | None = None) -> tuple[Path, bool]:
    """Create a random 256-bit key file (mode 600) unless one exists; returns (path, created)."""
    path = path or default_key_file()
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path, True


class Pseudonymiser:
    """HMAC-SHA256 of normalised CPR numbers, hex-encoded."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def one(self, cpr: str) -> str:
        return hmac.new(self._key, cpr.encode("ascii"), hashlib.sha256).hexdigest()

    def column(self, normalised: pa.Array) -> pa.Array:
        """Pseudonyms for an array of normalised CPRs (nulls stay null).

        Registries repeat a person many times; hashing each distinct value once and mapping
        back with Arrow keeps this linear in distinct persons, not rows.
        """
        distinct = pc.unique(normalised.drop_null())
        keys = pa.array([self.one(v) for v in distinct.to_pylist()], pa.string())
        return pc.take(keys, pc.index_in(normalised, value_set=distinct))
