"""The interval audit of registered answers: read each answer as an attacker would and check
by linear programming that no hidden value can be recovered from the shown ones.

The attacker knows every shown count, that "<T" means 1..T-1, that "suppressed" means at
least T where the count's total is shown (a secondary cell) and 0 or more where it is not,
and how strata are made: sums of sex x region cells, AC <= AN and AC >= 2 nhomalt + nhemi
in every cell, and on chrX outside the PARs XY cells haploid (AC = nhemi, no nhomalt) and
XX cells without hemizygous calls. The answer passes when every "<T" cell can still take
both 1 and T-1 and no suppressed cell is pinned that is small (1..T-1) or protects a small
one (a secondary). A count hidden everywhere may be pinned at T or more by other counts
(nhemi_all = AC_XY outside the PARs): that says nothing small.
(The LP relaxes integrality, which can only widen what the attacker sees as possible; the
rules' own reasoning, privacy.partition_codes, is integral.)
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping

import numpy as np
import pytest
from scipy.optimize import linprog

from genomics_variants.api.privacy import (
    SECONDARY,
    Policy,
    Tier,
    as_count,
    disclose,
    floors,
    observed,
)
from genomics_variants.assembly import sex_nonpar
from genomics_variants.contributions.cells import REGIONS, SEXES
from genomics_variants.contributions.store import Store
from genomics_variants.frequencies.query import FrequencyIndex
from genomics_variants.frequencies.release import current_release
from genomics_variants.frequencies.strata import STRATA

POLICY = Policy()
COUNTS = ("ac", "an", "nhomalt", "nhemi")
CELLS = [(sex, region) for sex in SEXES for region in REGIONS]
N = len(CELLS) * len(COUNTS)  # one LP variable per cell and count
Cell = dict[str, int]


def _var(cell: int, count: str) -> int:
    return cell * len(COUNTS) + COUNTS.index(count)


def _members(stratum: str) -> list[int]:
    """The cells a stratum sums."""
    return [i for i, (sex, region) in enumerate(CELLS) if stratum in ("all", sex, region)]


def _row(stratum: str, count: str) -> np.ndarray:
    row = np.zeros(N)
    row[[_var(i, count) for i in _members(stratum)]] = 1.0
    return row


def _record(cells: list[Cell], nonpar_x: bool) -> dict[str, object]:
    """A record as FrequencyIndex.record gives it, from per-cell true counts."""
    frequencies: dict[str, dict[str, object]] = {}
    for stratum in STRATA:
        summed = {c: sum(cells[i][c] for i in _members(stratum)) for c in COUNTS}
        af = summed["ac"] / summed["an"] if summed["an"] else None
        frequencies[stratum] = {**summed, "af": af, "faf95": af, "call_rate": 1.0}
    return {
        "variant_id": "chrX-100000000-G-A" if nonpar_x else "chr17-43045711-G-A",
        "chrom": "chrX" if nonpar_x else "chr17",
        "pos": 100_000_000 if nonpar_x else 43_045_711,
        "ref": "G",
        "alt": "A",
        "release": "r00001",
        "frequencies": frequencies,
        "grpmax": dict.fromkeys(("grpmax", "grpmax_ac", "grpmax_an", "grpmax_af"))
        | {"faf95_max": None, "faf95_max_region": None},
    }


def _bounds(shown: object, count: str, total_shown: bool) -> tuple[float, float | None]:
    """What the attacker knows of one stratum's count from how it is shown."""
    if isinstance(shown, int):
        return shown, shown
    if shown == SECONDARY:
        return (floors(POLICY)[count] if total_shown else 0), None
    assert isinstance(shown, str) and shown.startswith("<"), shown
    return 1, int(shown[1:]) - 1


def _structure(nonpar_x: bool) -> tuple[list[np.ndarray], list[float], list[tuple[float, float]]]:
    """Per-cell inequalities (A_ub x <= b_ub) and bounds every attacker knows."""
    rows, rhs = [], []
    bounds: list[tuple[float, float]] = [(0, np.inf)] * N
    for i, (sex, _) in enumerate(CELLS):
        ac_le_an = np.zeros(N)
        ac_le_an[[_var(i, "ac"), _var(i, "an")]] = (1, -1)
        genotypes = np.zeros(N)
        genotypes[[_var(i, "nhomalt"), _var(i, "nhemi"), _var(i, "ac")]] = (2, 1, -1)
        rows += [ac_le_an, genotypes]
        rhs += [0.0, 0.0]
        if not nonpar_x or sex == "XX":
            bounds[_var(i, "nhemi")] = (0, 0)
        if nonpar_x and sex == "XY":
            bounds[_var(i, "nhomalt")] = (0, 0)
            haploid = np.zeros(N)
            haploid[[_var(i, "ac"), _var(i, "nhemi")]] = (1, -1)
            rows += [haploid, -haploid]
            rhs += [0.0, 0.0]
    return rows, rhs, bounds


def findings(record: dict[str, object], nonpar_x: bool) -> list[str]:
    """What an attacker recovers from the registered answer to `record` (empty: nothing)."""
    answer = disclose(record, Tier.REGISTERED, POLICY)
    shown: Mapping[str, Mapping[str, object]] = answer["frequencies"]  # type: ignore[assignment]
    rows, rhs, bounds = _structure(nonpar_x)
    exact: list[tuple[np.ndarray, float]] = []
    hidden: list[tuple[str, str, object, bool]] = []
    for count in COUNTS:
        total_shown = isinstance(shown["all"][count], int)
        for stratum in STRATA:
            low, high = _bounds(shown[stratum][count], count, total_shown)
            row = _row(stratum, count)
            if low == high:
                exact.append((row, low))
                continue
            hidden.append((stratum, count, shown[stratum][count], total_shown))
            rows.append(-row)
            rhs.append(-low)
            if high is not None:
                rows.append(row)
                rhs.append(high)
    rows.append(-_row("all", "ac"))  # the answer says the variant exists
    rhs.append(-1.0)
    equal = np.array([r for r, _ in exact]) if exact else None
    values = np.array([v for _, v in exact]) if exact else None
    out = []
    truth = record["frequencies"]
    for stratum, count, marker, secondary in hidden:
        reach = []
        for sign in (1, -1):
            result = linprog(
                sign * _row(stratum, count),
                A_ub=np.array(rows),
                b_ub=np.array(rhs),
                A_eq=equal,
                b_eq=values,
                bounds=bounds,
                method="highs",
            )
            assert result.status in (0, 3), result.message  # 3: unbounded above
            reach.append(sign * result.fun if result.status == 0 else np.inf)
        low, high = reach
        true = truth[stratum][count]  # type: ignore[index]
        if marker != SECONDARY and (low > 1 + 1e-6 or high < int(str(marker)[1:]) - 1 - 1e-6):
            out.append(f"{count} {stratum} (<{str(marker)[1:]}) narrowed to {low:g}..{high:g}")
        protects = secondary or 0 < true < floors(POLICY)[count]
        if marker == SECONDARY and true and protects and high - low < 1 - 1e-6:
            out.append(f"{count} {stratum} ({true}) pinned to {low:g}..{high:g}")
    return out


def _random_cells(rng: random.Random, nonpar_x: bool) -> list[Cell]:
    """True per-cell counts: persons called, then genotypes, often small, sometimes all
    homozygous, in cells of very different sizes."""
    cells = []
    for sex, _ in CELLS:
        persons = rng.choice((0, 1, 2, 3, 5, 8, 20, 60, 300))
        carriers = min(persons, rng.choice((0, 0, 1, 1, 2, 3, 4, 6, 12, persons)))
        if nonpar_x and sex == "XY":
            cells.append({"ac": carriers, "an": persons, "nhomalt": 0, "nhemi": carriers})
            continue
        hom = rng.randint(0, carriers)
        cells.append({"ac": carriers + hom, "an": 2 * persons, "nhomalt": hom, "nhemi": 0})
    return cells


def _cells(nonpar_x: bool = False, **by_cell: tuple[int, int, int]) -> list[Cell]:
    """Cells named sex_region=(carriers, homozygous or hemizygous, persons), others empty
    but with 100 persons called."""
    out = []
    for sex, region in CELLS:
        carriers, hom, persons = by_cell.get(f"{sex}_{region}", (0, 0, 100))
        if nonpar_x and sex == "XY":
            out.append({"ac": carriers, "an": persons, "nhomalt": 0, "nhemi": carriers})
        else:
            out.append({"ac": carriers + hom, "an": 2 * persons, "nhomalt": hom, "nhemi": 0})
    return out


def test_small_xx_count_not_recovered_from_all_minus_nhemi_outside_the_pars() -> None:
    cells = _cells(True, XX_hovedstaden=(2, 0, 100), XY_hovedstaden=(30, 0, 100))
    assert findings(_record(cells, True), True) == []


def test_two_small_regions_beside_a_large_one_are_not_pinned() -> None:
    cells = _cells(
        XX_nordjylland=(1, 0, 100), XX_sjaelland=(1, 0, 100), XX_hovedstaden=(20, 0, 100)
    )
    record = _record(cells, False)
    assert findings(record, False) == []
    regions = disclose(record, Tier.REGISTERED, POLICY)["frequencies"]
    assert regions["hovedstaden"]["ac"] == SECONDARY  # type: ignore[index]


def test_small_allele_number_not_narrowed_by_the_allele_count() -> None:
    cells = _cells(XX_unknown=(3, 1, 3), XX_hovedstaden=(40, 5, 100))
    assert findings(_record(cells, False), False) == []


@pytest.mark.parametrize("nonpar_x", [False, True])
def test_no_registered_answer_has_a_recoverable_hidden_cell(nonpar_x: bool) -> None:
    rng = random.Random(14 + nonpar_x)
    for _ in range(40):
        cells = _random_cells(rng, nonpar_x)
        if sum(c["ac"] for c in cells) == 0:
            continue
        assert findings(_record(cells, nonpar_x), nonpar_x) == [], cells


def test_every_registered_answer_of_a_release_passes_the_audit(api: dict[str, object]) -> None:
    """The fixture release's variants with anything hidden, audited as served."""
    store: Store = api["store"]  # type: ignore[assignment]
    index = FrequencyIndex(current_release(store))  # type: ignore[arg-type]
    audited = 0
    for row in range(len(index)):
        record = index.record(row)
        if not observed(as_count(record["frequencies"]["all"]["ac"]), Tier.REGISTERED, POLICY):  # type: ignore[index]
            continue
        answer = json.dumps(disclose(record, Tier.REGISTERED, POLICY)["frequencies"])
        if "<" not in answer or audited >= 25:
            continue
        chrom, pos = str(record["chrom"]), np.array([record["pos"]])
        nonpar_x = chrom == "chrX" and bool(sex_nonpar(chrom, pos)[0])
        assert findings(record, nonpar_x) == [], record["variant_id"]
        audited += 1
    assert audited, "the release should have registered answers with hidden cells"
