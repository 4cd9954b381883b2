"""Disclosure rules per recipient: the threshold T below which no count of persons may be
known (Sundhedsdatastyrelsen and Medicinrådet 5; Danmarks Statistik uses 3 in some
settings). Everything in the release package takes T from a policy, so a recipient with
another rule is one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DisclosurePolicy:
    """Who receives the release and the threshold their rules set."""

    recipient: str
    threshold: int


MEDICINRAADET = DisclosurePolicy("medicinraadet", 5)
STATISTICS_DENMARK = DisclosurePolicy("statistics_denmark", 3)
POLICIES = {p.recipient: p for p in (MEDICINRAADET, STATISTICS_DENMARK)}
