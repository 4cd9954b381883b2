"""Privacy tiers: anonymous yes/no, registered counts with "<5", controlled everything."""

from __future__ import annotations

from genomics_variants.api.privacy import Policy, Tier, disclose
from genomics_variants.frequencies.strata import STRATA

POLICY = Policy()


def _record(ac: dict[str, int], an: int = 1000) -> dict[str, object]:
    frequencies = {}
    for stratum in STRATA:
        a = ac.get(stratum, 0)
        frequencies[stratum] = {
            "ac": a,
            "an": an,
            "af": a / an,
            "nhomalt": a // 4,
            "nhemi": 0,
            "faf95": a / an / 2,
            "call_rate": 0.99,
            "ac_raw": a + 1,
            "an_raw": an,
            "af_raw": (a + 1) / an,
            "nhomalt_raw": 0,
            "nhemi_raw": 0,
            "call_rate_raw": 1.0,
        }
    return {
        "variant_id": "chr17-43045711-G-A",
        "chrom": "chr17",
        "pos": 43045711,
        "ref": "G",
        "alt": "A",
        "release": "r00001",
        "frequencies": frequencies,
        "grpmax": {
            "grpmax": "hovedstaden",
            "grpmax_ac": ac.get("hovedstaden", 0),
            "grpmax_an": an,
            "grpmax_af": 0.1,
            "faf95_max": 0.05,
            "faf95_max_region": "hovedstaden",
        },
    }


def test_anonymous_gets_yes_no_and_nothing_for_rare_alleles() -> None:
    common = disclose(_record({"all": 40, "XX": 20, "XY": 20}), Tier.ANONYMOUS, POLICY)
    assert common["exists"] is True and "frequencies" not in common
    rare = disclose(_record({"all": 4, "XX": 4}), Tier.ANONYMOUS, POLICY)
    assert rare["exists"] is False and "frequencies" not in rare


def test_registered_small_counts_and_secondary_suppression() -> None:
    record = _record(
        {"all": 23, "XX": 20, "XY": 3, "hovedstaden": 12, "sjaelland": 9, "unknown": 2}
    )
    shown = disclose(record, Tier.REGISTERED, POLICY)
    freq = shown["frequencies"]
    assert freq["all"]["ac"] == 23
    assert (
        freq["XY"]["ac"] == "<5" and freq["XX"]["ac"] == "suppressed"
    )  # 20 would give XY = 23 - 20
    assert (
        freq["unknown"]["ac"] == "<5" and freq["sjaelland"]["ac"] == "suppressed"
    )  # next smallest
    assert freq["hovedstaden"]["ac"] == 12 and freq["nordjylland"]["ac"] == 0
    assert freq["XY"]["af"] == "<0.005" and freq["XY"]["faf95"] is None
    assert freq["XX"]["af"] is None and freq["XX"]["faf95"] is None
    assert "ac_raw" not in freq["all"]  # raw counts are for controlled users
    # sjaelland's AC is hidden and grpmax_af would bound it: grpmax goes too
    assert shown["grpmax"]["grpmax"] is None
    # an AC hidden anywhere hides nhomalt and nhemi everywhere (AC_XX = AC_all - nhemi)
    assert {f["nhomalt"] for f in freq.values()} == {"suppressed"}


def test_registered_rare_variant_everything_small_is_hidden() -> None:
    shown = disclose(
        _record({"all": 3, "XX": 1, "XY": 2, "hovedstaden": 3}), Tier.REGISTERED, POLICY
    )
    assert shown["exists"] is True
    # a small total is "<5" and every stratum, zeros too, "suppressed": two "<5" regions
    # under a "<5" total would narrow each other (1 + 1 <= 4 leaves each at most 3)
    assert shown["frequencies"]["all"]["ac"] == "<5"
    assert {shown["frequencies"][s]["ac"] for s in STRATA[1:]} == {"suppressed"}
    assert shown["grpmax"]["grpmax"] is None


def test_registered_small_an_is_hidden() -> None:
    record = _record({"all": 30, "XX": 30, "hovedstaden": 30})
    for stratum in ("XY", "nordjylland"):
        record["frequencies"][stratum]["an"] = 6  # three persons called
    shown = disclose(record, Tier.REGISTERED, POLICY)["frequencies"]
    assert (
        shown["XY"]["an"] == "<10"
        and shown["XY"]["af"] is None
        and shown["XY"]["call_rate"] is None
    )
    assert shown["XX"]["an"] == "suppressed"  # else XY's AN = all - XX
    assert shown["nordjylland"]["an"] == "<10" and shown["all"]["an"] == 1000


def test_controlled_sees_everything() -> None:
    record = _record({"all": 3, "XX": 3})
    shown = disclose(record, Tier.CONTROLLED, POLICY)
    assert shown["frequencies"] == record["frequencies"] and shown["exists"] is True
