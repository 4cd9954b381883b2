"""Privacy tiers: what each kind of user may learn about a variant.

Beacons leak membership: with a few thousand presence queries on rare alleles one can tell
whether a known genome is in the cohort (Shringarpure & Bustamante 2015). So:

* anonymous - yes/no only, and a rare allele (QC-passing AC below `anonymous_min_ac`) is
  answered as absent;
* registered (API token) - counts and frequencies by stratum, with statistical disclosure
  control: a count of 1-4 (below `small_count`) is shown as "<5", its AF as an upper bound,
  its faf95 hidden; AN is hidden below 2 x small_count (fewer than 5 persons called); and
  more cells are hidden as "suppressed" until no hidden one can be worked out from the
  shown ones - by subtraction across strata (XX + XY = all; the regions sum to all) or
  across counts (AC <= AN, AC >= 2 nhomalt + nhemi, grpmax_af bounding every region's AF):
  `record_codes`, with the rules and their linear-programming audit in
  docs/variant_privacy.md. Raw (pre-QC) counts are not shown;
* controlled - everything, raw counts included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from genomics_variants.contributions.cells import REGIONS, SEXES
from genomics_variants.frequencies.strata import GROUP_STRATA

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
Codes = Mapping[str, Mapping[str, int]]  # count -> stratum -> SHOWN / PRIMARY / SECONDARY
Counts = Mapping[str, float]  # stratum -> a count's true value or bound (inf: none)
ALLELE_COUNTS = ("nhomalt", "nhemi")  # bounded by AC (AC >= 2 nhomalt + nhemi)


def as_count(value: object) -> int | None:
    """A count field of a record (FrequencyIndex.record, .value): an int, or None for null.

    Names the type for the checker; the value is passed through unchanged.
    """
    return cast("int | None", value)


def floors(policy: Policy) -> dict[str, int]:
    """The smallest count shown, per suppressed count (AN counts alleles: two per person)."""
    small = policy.small_count
    return {count: 2 * small if count == "an" else small for count in SUPPRESSED_COUNTS}


def _covered(
    values: Counts, hidden: list[str], primary: set[str], lower: Counts, upper: Counts
) -> bool:
    """Whether the hidden members of one partition stay hidden from a reader who knows the
    total, the shown members and each hidden member's bounds (`lower`/`upper`: a primary
    1..floor-1, a secondary floor.. and never more than the count bounding it): every
    primary can still take both 1 and floor-1, every secondary at least two values.

    The reader's knowledge is an interval per member (a sum minus the others' bounds), so
    checking the two ends is exact for a partition on its own."""
    total = sum(values[s] for s in hidden)
    for stratum in hidden:
        others = [o for o in hidden if o != stratum]
        low = max(lower[stratum], total - sum(upper[o] for o in others))
        high = min(upper[stratum], total - sum(lower[o] for o in others))
        if stratum in primary:
            if low > lower[stratum] or high < upper[stratum]:
                return False
        elif high - low < 1:
            return False
    return True


def partition_codes(
    values: Counts, floor: int, lower: Counts, upper: Counts
) -> dict[str, int] | None:
    """One count's codes, or None when no choice of secondary cells protects its primaries
    (the caller then hides the count in every stratum: `whole_codes`).

    A primary is 1..floor-1 ("<floor"); in each partition (sexes, regions) holding one,
    the smallest non-zero shown members (by value, then name) are hidden as secondaries
    until `_covered` holds - one is not always enough: regions of 1, 1 and 20 under a total
    of 22 need all three hidden, else both 1s are pinned. `lower`/`upper` bound each
    stratum's true value by the other counts the reader sees (AC <= AN, AN >= AC, ...)."""
    if not any(0 < v < floor for v in values.values()):
        return dict.fromkeys(values, SHOWN)  # nothing small: nothing to protect
    code = {s: PRIMARY_CODE if 0 < v < floor else SHOWN for s, v in values.items()}
    if code["all"]:
        return None
    for partition in PARTITIONS:
        primary = {s for s in partition if code[s]}
        if not primary:
            continue
        if any(upper[s] < floor - 1 for s in primary):
            return None  # the counts shown bound it below floor-1 whatever is hidden
        hidden = sorted(primary)
        spare = sorted((values[s], s) for s in partition if not code[s] and values[s] > 0)
        low = {s: 1 if s in primary else max(floor, lower[s]) for s in partition}
        high = {s: floor - 1 if s in primary else upper[s] for s in partition}
        while not (len(hidden) > len(primary) and _covered(values, hidden, primary, low, high)):
            if not spare:
                return None
            stratum = spare.pop(0)[1]
            hidden.append(stratum)
            code[stratum] = SECONDARY_CODE
    return code


def whole_codes(values: Counts, floor: int, mark_total: bool = True) -> dict[str, int]:
    """A count hidden in every stratum: the total as "<floor" when it is small and
    `mark_total` (not for nhomalt and nhemi, whose shown AC bounds them below floor-1),
    everything else (zeros too) as suppressed, so nothing pins a stratum."""
    total = PRIMARY_CODE if mark_total and 0 < values["all"] < floor else SECONDARY_CODE
    return {s: total if s == "all" else SECONDARY_CODE for s in values}


def record_codes(frequencies: Mapping[str, Mapping[str, Any]], policy: Policy) -> Codes:
    """The suppression codes of one record, count by count, each bounded by the others.

    * AN first, each stratum bounded below by its AC;
    * AC bounded above by AN; hidden everywhere when a stratum with a small AN has AC of
      floor or more (showing it would say AN >= floor);
    * nhomalt and nhemi hidden everywhere once any AC is hidden (else AC_XX = AC_all -
      nhemi on chrX outside the PARs) or when both have hidden cells; otherwise each is
      bounded by AC and the other (AC >= 2 nhomalt + nhemi).
    A count that `partition_codes` cannot protect is hidden everywhere (`whole_codes`).
    The rules and their proof are in docs/variant_privacy.md; the linear-programming test
    (tests/genomics_variants/api/test_disclosure_audit.py) checks them."""
    floor = floors(policy)
    value = {
        count: {s: int(f[count] or 0) for s, f in frequencies.items()}
        for count in SUPPRESSED_COUNTS
    }
    ac, an = value["ac"], value["an"]
    unbounded = {s: 0 for s in ac}
    out: dict[str, dict[str, int]] = {}
    out["an"] = _or_whole(partition_codes(an, floor["an"], ac, _none(an)), an, floor["an"])
    small_an = any(c == PRIMARY_CODE and ac[s] >= floor["ac"] for s, c in out["an"].items())
    # AN bounds AC from above as the reader knows it: exactly when shown, at floor-1 or more
    # when "<floor" (never narrowing a primary AC); a secondary's true AN is conservative
    ac_upper = {s: math.inf if c == PRIMARY_CODE else an[s] for s, c in out["an"].items()}
    ac_codes = None if small_an else partition_codes(ac, floor["ac"], unbounded, ac_upper)
    out["ac"] = _or_whole(ac_codes, ac, floor["ac"])
    allele: dict[str, dict[str, int] | None] = dict.fromkeys(ALLELE_COUNTS)
    if not any(out["ac"].values()):
        nhomalt, nhemi = value["nhomalt"], value["nhemi"]
        bounds = {
            "nhomalt": {s: (ac[s] - nhemi[s]) // 2 for s in ac},
            "nhemi": {s: ac[s] - 2 * nhomalt[s] for s in ac},
        }
        for count in ALLELE_COUNTS:
            allele[count] = partition_codes(value[count], floor[count], unbounded, bounds[count])
    together = all(c is not None and any(c.values()) for c in allele.values())
    for count, codes in allele.items():
        out[count] = (
            whole_codes(value[count], floor[count], False) if together or codes is None else codes
        )
    return out


def _none(values: Counts) -> dict[str, float]:
    """No upper bound for any stratum."""
    return {s: math.inf for s in values}


def _or_whole(codes: dict[str, int] | None, values: Counts, floor: int) -> dict[str, int]:
    return whole_codes(values, floor) if codes is None else codes


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
    grpmax = dict(cast(dict[str, object], record["grpmax"]))
    if any(codes[count][s] for count in ("ac", "an") for s in GROUP_STRATA):
        # grpmax_af bounds every other region's AF, so a hidden AC below it: shown only
        # when no region it ranges over hides a count
        grpmax = {field: None for field in grpmax}
    return {**head, "exists": present, "frequencies": shown, "grpmax": grpmax}


def shown_count(value: int, tier: Tier, policy: Policy) -> int | str:
    """A count that stands alone (no stratum sums to it or from it) as a tier may see it:
    exact for controlled users, "<small_count" for 1..small_count-1 to registered ones."""
    if tier is Tier.REGISTERED and 0 < value < policy.small_count:
        return f"<{policy.small_count}"
    return value


def shown_allele_numbers(values: Counts, tier: Tier, policy: Policy) -> dict[str, object]:
    """AN per stratum where no variant is listed (callable coverage) under the AN rule of
    `record_codes`, for registered users; exact for controlled ones."""
    numbers = {s: int(v) for s, v in values.items()}
    if tier is Tier.CONTROLLED:
        return dict(numbers)
    floor = floors(policy)["an"]
    codes = _or_whole(
        partition_codes(numbers, floor, {s: 0 for s in numbers}, _none(numbers)), numbers, floor
    )
    marks = {PRIMARY_CODE: f"<{floor}", SECONDARY_CODE: SECONDARY}
    return {s: marks.get(codes[s], numbers[s]) for s in numbers}
