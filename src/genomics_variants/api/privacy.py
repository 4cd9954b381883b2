"""Privacy tiers: what each kind of user may learn about a variant.

Beacons leak membership: with a few thousand presence queries on rare alleles one can tell
whether a known genome is in the cohort (Shringarpure & Bustamante 2015). So:

* anonymous - yes/no only, and a rare allele (QC-passing AC below `anonymous_min_ac`) is
  answered as absent;
* registered (API token) - counts and frequencies by stratum, with statistical disclosure
  control: a count of 1-4 (below `small_count`) is shown as "<5", its AF as an upper bound,
  its faf95 hidden; AN is hidden below 2 x small_count (fewer than 5 persons called); and
  where hiding one stratum would let it be recovered by subtraction from the total
  (XX + XY = all; the regions sum to all), the next smallest stratum is hidden too and shown
  as "suppressed" (secondary suppression). Raw (pre-QC) counts are not shown;
* controlled - everything, raw counts included.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from genomics_variants.contributions.cells import REGIONS, SEXES

PARTITIONS: tuple[tuple[str, ...], ...] = (SEXES, REGIONS)
SUPPRESSED_COUNTS = ("ac", "an", "nhomalt", "nhemi")
REGISTERED_FIELDS = ("ac", "an", "af", "nhomalt", "nhemi", "faf95", "call_rate")


class Tier(StrEnum):
    ANONYMOUS = "anonymous"
    REGISTERED = "registered"
    CONTROLLED = "controlled"


@dataclass(frozen=True)
class Policy:
    """anonymous_min_ac: below this QC-passing AC an anonymous user is told "absent";
    small_count: registered users see counts 1..small_count-1 as "<small_count"."""

    anonymous_min_ac: int = 5
    small_count: int = 5


def observed(ac: int | None, tier: Tier, policy: Policy) -> bool:
    """Whether a variant with this QC-passing AC is reported as observed at this tier."""
    floor = policy.anonymous_min_ac if tier is Tier.ANONYMOUS else 1
    return ac is not None and ac >= max(floor, 1)


SECONDARY = "suppressed"


def _suppressed(values: dict[str, int], small: int) -> tuple[set[str], set[str]]:
    """Strata to hide for one count: (primary: 0 < n < small, secondary: hidden so that a
    primary one cannot be recovered from the total by subtraction)."""
    primary = {s for s, v in values.items() if 0 < v < small}
    secondary: set[str] = set()
    if "all" in primary:
        return primary, secondary
    for partition in PARTITIONS:
        inside = [s for s in partition if s in primary]
        if len(inside) == 1:
            others = [s for s in partition if s not in primary and values.get(s, 0) > 0]
            if others:
                secondary.add(min(others, key=lambda s: (values[s], s)))
    return primary, secondary


def disclose(record: dict[str, object], tier: Tier, policy: Policy) -> dict[str, object]:
    """The part of a full record (FrequencyIndex.record) this tier may see."""
    head = {k: record[k] for k in ("variant_id", "chrom", "pos", "ref", "alt", "release")}
    present = observed(record["frequencies"]["all"]["ac"], tier, policy)  # type: ignore[index]
    if tier is Tier.ANONYMOUS:
        return {**head, "exists": present}
    if tier is Tier.CONTROLLED:
        return {**record, "exists": present}
    frequencies: dict[str, dict[str, object]] = record["frequencies"]  # type: ignore[assignment]
    small = policy.small_count
    floors = {count: 2 * small if count == "an" else small for count in SUPPRESSED_COUNTS}
    found = {
        count: _suppressed({s: int(f[count] or 0) for s, f in frequencies.items()}, floors[count])
        for count in SUPPRESSED_COUNTS
    }
    hidden = {count: primary | secondary for count, (primary, secondary) in found.items()}
    shown: dict[str, dict[str, object]] = {}
    for stratum, fields in frequencies.items():
        out = {f: fields[f] for f in REGISTERED_FIELDS}
        for count, (primary, secondary) in found.items():
            if stratum in primary:
                out[count] = f"<{floors[count]}"
            elif stratum in secondary:
                out[count] = SECONDARY
        an = fields["an"]
        if stratum in hidden["ac"] or stratum in hidden["an"]:
            primary_ac = stratum in found["ac"][0]
            out["af"] = (
                f"<{small / an:.3g}" if primary_ac and stratum not in hidden["an"] and an else None
            )
            out["faf95"] = None
        if stratum in hidden["an"]:
            out["call_rate"] = None
        shown[stratum] = out
    grpmax: dict[str, object] = dict(record["grpmax"])  # type: ignore[arg-type]
    if grpmax["grpmax"] is None or grpmax["grpmax"] in hidden["ac"]:
        grpmax |= {"grpmax": None, "grpmax_ac": None, "grpmax_an": None, "grpmax_af": None}
    if grpmax["faf95_max_region"] is None or grpmax["faf95_max_region"] in hidden["ac"]:
        grpmax |= {"faf95_max": None, "faf95_max_region": None}
    return {**head, "exists": present, "frequencies": shown, "grpmax": grpmax}
