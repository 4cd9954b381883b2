"""Independent random streams, one per named part of the generator.

Every source draws from its own stream derived from the run seed and the source's name, so
adding, removing or reordering a source never changes what the others write: the same seed
keeps giving the same CPR spine even as the generator grows.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """A generator keyed by `seed` and `name` (stable across Python versions and runs)."""
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(key,)))


def derived_seed(seed: int, name: str) -> int:
    """A plain integer seed for a collaborator that builds its own generators."""
    return int(stream(seed, name).integers(0, 2**63 - 1))
