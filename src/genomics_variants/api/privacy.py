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

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import numpy as np

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


def observed_floor(tier: Tier, policy: Policy) -> int:
    """The smallest QC-passing AC reported as observed at this tier (the one rule that both
    `observed` and the per-release visibility masks of the API apply)."""
    return max(policy.anonymous_min_ac if tier is Tier.ANONYMOUS else 1, 1)


def observed(ac: int | None, tier: Tier, policy: Policy) -> bool:
    """Whether a variant with this QC-passing AC is reported as observed at this tier."""
    return ac is not None and ac >= observed_floor(tier, policy)


SECONDARY = "suppressed"
SHOWN, PRIMARY_CODE, SECONDARY_CODE = 0, 1, 2
_NONE = np.iinfo(np.int64).max  # "no candidate" when choosing the secondary stratum
Codes = Mapping[str, Mapping[str, int]]  # count -> stratum -> SHOWN / PRIMARY / SECONDARY


def as_count(value: object) -> int | None:
    """A count field of a record (FrequencyIndex.record, .value): an int, or None for null.

    Names the type for the checker; the value is passed through unchanged.
    """
    return cast("int | None", value)


def floors(policy: Policy) -> dict[str, int]:
    """The smallest count shown, per suppressed count (AN counts alleles: two per person)."""
    small = policy.small_count
    return {count: 2 * small if count == "an" else small for count in SUPPRESSED_COUNTS}


def suppression_codes(values: Mapping[str, np.ndarray], small: int) -> dict[str, np.ndarray]:
    """For one count, per stratum and variant (vectorised over variants): SHOWN, PRIMARY
    (0 < n < small) or SECONDARY (hidden so that a primary stratum cannot be recovered
    from the total by subtraction: when one stratum of a partition is primary, the
    smallest other non-zero one, by value then name, is hidden too)."""
    code = {
        s: np.where((v > 0) & (v < small), PRIMARY_CODE, SHOWN).astype(np.int8)
        for s, v in values.items()
    }
    rows = len(next(iter(values.values())))
    total_shown = code["all"] != PRIMARY_CODE
    for partition in PARTITIONS:
        members = sorted(s for s in partition if s in values)  # name order breaks ties
        primaries = sum((code[s] == PRIMARY_CODE).astype(np.int64) for s in members)
        others = np.stack(
            [
                np.where((code[s] != PRIMARY_CODE) & (values[s] > 0), values[s], _NONE)
                for s in members
            ],
            axis=1,
        )
        best = np.argmin(others, axis=1)
        hide = total_shown & (primaries == 1) & (others[np.arange(rows), best] != _NONE)
        for j, s in enumerate(members):
            code[s][hide & (best == j)] = SECONDARY_CODE
    return code


def record_codes(frequencies: Mapping[str, Mapping[str, object]], policy: Policy) -> Codes:
    """The suppression codes of one record (what a release index precomputes for all)."""
    out: dict[str, dict[str, int]] = {}
    for count, floor in floors(policy).items():
        values = {s: np.array([int(as_count(f[count]) or 0)]) for s, f in frequencies.items()}
        out[count] = {s: int(c[0]) for s, c in suppression_codes(values, floor).items()}
    return out


def disclose(
    record: dict[str, object], tier: Tier, policy: Policy, codes: Codes | None = None
) -> dict[str, object]:
    """The part of a full record (FrequencyIndex.record) this tier may see; `codes`, the
    record's suppression codes, are computed when not given."""
    head = {k: record[k] for k in ("variant_id", "chrom", "pos", "ref", "alt", "release")}
    # the record's layout is FrequencyIndex.record's: stratum -> field -> value, grpmax fields
    frequencies = cast(dict[str, dict[str, object]], record["frequencies"])
    present = observed(as_count(frequencies["all"]["ac"]), tier, policy)
    if tier is Tier.ANONYMOUS:
        return {**head, "exists": present}
    if tier is Tier.CONTROLLED:
        return {**record, "exists": present}
    codes = codes or record_codes(frequencies, policy)
    small, floor = policy.small_count, floors(policy)
    shown: dict[str, dict[str, object]] = {}
    for stratum, fields in frequencies.items():
        out = {f: fields[f] for f in REGISTERED_FIELDS}
        for count in SUPPRESSED_COUNTS:
            code = codes[count][stratum]
            if code == PRIMARY_CODE:
                out[count] = f"<{floor[count]}"
            elif code == SECONDARY_CODE:
                out[count] = SECONDARY
        ac_code, an_code = codes["ac"][stratum], codes["an"][stratum]
        if ac_code or an_code:
            an = as_count(fields["an"])
            primary_ac = ac_code == PRIMARY_CODE
            out["af"] = f"<{small / an:.3g}" if primary_ac and not an_code and an else None
            out["faf95"] = None
        if an_code:
            out["call_rate"] = None
        shown[stratum] = out
    hidden_ac = {s for s, c in codes["ac"].items() if c}
    grpmax = dict(cast(dict[str, object], record["grpmax"]))
    if grpmax["grpmax"] is None or grpmax["grpmax"] in hidden_ac:
        grpmax |= {"grpmax": None, "grpmax_ac": None, "grpmax_an": None, "grpmax_af": None}
    if grpmax["faf95_max_region"] is None or grpmax["faf95_max_region"] in hidden_ac:
        grpmax |= {"faf95_max": None, "faf95_max_region": None}
    return {**head, "exists": present, "frequencies": shown, "grpmax": grpmax}
