"""Release discipline against differencing: which genomes a new release holds, if any.

Comparing two releases that differ by one genome yields that genome (the update attack of
Ayoz et al. 2021). So a release is published only when at least `min_change` genomes
(default 20) were added or removed since the release in force; fewer changes wait for the
next one, and counts never move one genome at a time.

An opt-out removal cannot wait: the person must leave every served artefact now. A removal
therefore always publishes, and when it changes fewer than `min_change` genomes the new
release also withholds randomly chosen other genomes, so that it differs from the previous
one by `min_change` genomes and previous - new is the sum of that many genotypes, never
the removed person's. Withheld genomes stay stored; they come back only with a release
that itself changes at least `min_change` genomes besides them (else the later difference
would isolate them and, subtracted from the first, the person). Genomes added but not yet
released wait in the same way. Older releases, exports and warehouse rows are purged at
every removal (pipeline.publish).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass

MIN_CHANGE = 20


@dataclass(frozen=True)
class Released:
    """The genomes a release holds and those it withheld (both empty before a release)."""

    genomes: frozenset[str]
    withheld: frozenset[str]


@dataclass(frozen=True)
class ReleasePlan:
    """What the next release holds: `genomes` (of the stored), `withheld` (stored, held
    back to mask a removal), and whether it follows a removal (`purge`)."""

    genomes: frozenset[str]
    withheld: frozenset[str]
    purge: bool


def plan_release(
    previous: Released, stored: Collection[str], min_change: int = MIN_CHANGE
) -> ReleasePlan | None:
    """The next release, or None when it must wait for more changes (module docstring)."""
    if min_change < 1:
        raise ValueError("min_change must be at least 1")
    now = frozenset(stored)
    removed = previous.genomes - now
    gone_withheld = previous.withheld - now
    still_withheld = previous.withheld & now
    added = now - previous.genomes - previous.withheld
    changed = len(removed) + len(added)
    purge = bool(removed or gone_withheld)
    if changed >= min_change:
        return ReleasePlan(now, frozenset(), purge)
    if not purge:
        return None
    kept = previous.genomes & now
    extra = max(0, min_change - len(removed)) if removed else 0
    masked = frozenset(secrets.SystemRandom().sample(sorted(kept), min(extra, len(kept))))
    return ReleasePlan(kept - masked, still_withheld | masked, True)
