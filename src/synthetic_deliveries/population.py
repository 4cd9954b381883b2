"""The synthetic CPR spine: who exists, where they live, and when they arrive, leave or die.

Everything is drawn column-wise with numpy so a million persons take seconds. The spine is
everyone resident in Denmark at some point from 2019-01-01 (the start of LPR3) up to the
cut-off: the age pyramid is Danish birth cohorts thinned by Gompertz mortality, and vital
events (deaths, emigrations and returns, immigrations, disappearances) follow simple
age-dependent hazards. The treated cohort later overrides the fate of its members, which is
why the fate arrays are mutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.cpr import MOD11_WEIGHTS, seventh_digit_options
from synthetic_deliveries import geography, names
from synthetic_deliveries.danish_csv import NEVER, day_number

LPR3_START = day_number(date(2019, 1, 1))
MOD11_EXEMPT_FROM = day_number(date(2008, 1, 1))
"""Births from here on may hold numbers that fail modulus-11 (issued since late 2007)."""

YEAR = 365.25
# Gompertz mortality m(age) = A * exp(B * age): about 0.8 %/year at 60, 5 % at 80, 17 % at 93.
GOMPERTZ_A = 2.5e-5
GOMPERTZ_B = 0.095
# Danish live births per year (thousands) at knots; interpolated in between.
_BIRTH_KNOTS = (
    (1920, 72),
    (1930, 62),
    (1940, 70),
    (1946, 96),
    (1950, 80),
    (1960, 76),
    (1966, 88),
    (1975, 72),
    (1983, 51),
    (1990, 63),
    (1995, 70),
    (2000, 67),
    (2008, 65),
    (2013, 56),
    (2020, 61),
    (2026, 62),
)


@dataclass
class Population:
    """Column arrays, one entry per person (index = person_id - 1). Days are day numbers."""

    cutoff: int
    birth: np.ndarray  # int32
    sex: np.ndarray  # int8, current legal sex (1 male, 2 female), matches CPR parity
    karyotype_xy: np.ndarray  # bool, biological sex (differs after a legal sex change)
    cpr: pa.Array  # current 10-digit CPR
    fornavn: pa.Array
    mellemnavn: pa.Array  # null when none
    efternavn: pa.Array
    muni: np.ndarray  # index into geography.MUNICIPALITIES
    region: np.ndarray
    postnr: np.ndarray
    in_day: np.ndarray  # immigration (NEVER for persons born here)
    in_country: np.ndarray  # index into names.COUNTRIES, -1 when none
    out_day: np.ndarray  # emigration, NEVER when none
    out_country: np.ndarray
    return_day: np.ndarray  # re-immigration after `out_day`, NEVER when none
    death_day: np.ndarray
    disappear_day: np.ndarray
    changed: np.ndarray  # person indices whose CPR was replaced
    changed_old_cpr: pa.Array
    changed_day: np.ndarray
    # Moves and surname changes on a day before the cut-off: the person's earlier residence
    # (muni, region, postnr per row) and surname. Only a world delivered month by month has
    # them, so that a later month's register shows what changed since the previous one.
    moved: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    moved_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    moved_from: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    renamed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    renamed_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    renamed_from: list[str] = field(default_factory=list)
    # Seed of the world's families (parent links, FH carriers; see families.py), drawn last
    # from the population stream so that every month's register and the ground truth can
    # rebuild the same families from the spine alone.
    family_seed: int = 0

    @property
    def n(self) -> int:
        return len(self.birth)

    @property
    def person_id(self) -> np.ndarray:
        return np.arange(1, self.n + 1, dtype=np.int64)

    @property
    def kommune(self) -> np.ndarray:
        return geography.MUNICIPALITY_CODES[self.muni]

    def first_residence(self) -> tuple[np.ndarray, np.ndarray]:
        """(municipality index, region) each person lived in before any move the world
        records: the same in every month's register, unlike the current residence."""
        muni, region = self.muni.copy(), self.region.copy()
        # Later moves first, so each person ends with the residence before their first move.
        latest_first = np.argsort(self.moved_day, kind="stable")[::-1]
        for idx, (m, r, _p) in zip(
            self.moved[latest_first], self.moved_from[latest_first], strict=True
        ):
            muni[idx], region[idx] = m, r
        return muni, region

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) day each person can appear in Danish registries from 2019 on.

        Starts at birth, immigration or return from abroad; ends at death, disappearance,
        emigration (when no return) or the cut-off. `first > last` means never present.
        """
        first = np.maximum(np.maximum(self.birth, LPR3_START), self.in_day_or_past())
        first = np.where(self.return_day != NEVER, np.maximum(first, self.return_day), first)
        gone = np.where(self.return_day == NEVER, self.out_day, NEVER)
        last = np.minimum.reduce(
            [np.full(self.n, self.cutoff, np.int32), self.death_day, self.disappear_day, gone]
        )
        return first.astype(np.int32), last.astype(np.int32)

    def in_day_or_past(self) -> np.ndarray:
        return np.where(self.in_day == NEVER, np.iinfo(np.int32).min, self.in_day)

    def age_at(self, idx: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """Age in (fractional) years."""
        return (np.asarray(day) - self.birth[idx]) / YEAR

    def cpr_at(self, idx: np.ndarray, day: np.ndarray) -> pa.Array:
        """The CPR each person carried on `day` (the old number before a CPR change)."""
        current = self.cpr.take(pa.array(idx))
        if len(self.changed) == 0:
            return current
        pos = np.searchsorted(self.changed, idx)
        pos = np.minimum(pos, len(self.changed) - 1)
        before = (self.changed[pos] == idx) & (np.asarray(day) < self.changed_day[pos])
        old = self.changed_old_cpr.take(pa.array(pos))
        return pc.if_else(pa.array(before), old, current)

    def correct_birth_date(self, rng: np.random.Generator, idx: int, day: int) -> None:
        """Give person `idx` a CPR change on `day`: until then they carried a number issued
        for a birth date a few days off, the CPR office's date correction."""
        taken = set(self.cpr.to_pylist()) | set(self.changed_old_cpr.to_pylist())
        while True:
            birth = np.array([self.birth[idx] + int(rng.choice([-2, -1, 1, 2]))])
            number = _issue(rng, birth, self.sex[idx : idx + 1], np.zeros(1, bool))
            old = _as_text(number)
            if old[0].as_py() not in taken:
                break
        pos = int(np.searchsorted(self.changed, idx))
        self.changed = np.insert(self.changed, pos, idx).astype(np.int64)
        self.changed_day = np.insert(self.changed_day, pos, day).astype(np.int32)
        olds = self.changed_old_cpr.to_pylist()
        olds.insert(pos, old[0].as_py())
        self.changed_old_cpr = pa.array(olds, pa.string())

    def move(self, idx: int, day: int, to: tuple[int, int, int]) -> None:
        """Person `idx` moves on `day` to (municipality index, region, postcode)."""
        before = (int(self.muni[idx]), int(self.region[idx]), int(self.postnr[idx]))
        self.moved = np.append(self.moved, idx)
        self.moved_day = np.append(self.moved_day, np.int32(day))
        self.moved_from = np.vstack([self.moved_from, np.array([before], np.int64)])
        self.muni[idx], self.region[idx], self.postnr[idx] = to

    def rename(self, idx: int, day: int, efternavn: str) -> None:
        """Person `idx` takes the surname `efternavn` on `day` (marriage, most often)."""
        surnames = self.efternavn.to_pylist()
        self.renamed = np.append(self.renamed, idx)
        self.renamed_day = np.append(self.renamed_day, np.int32(day))
        self.renamed_from.append(surnames[idx])
        surnames[idx] = efternavn
        self.efternavn = pa.array(surnames, pa.string())

    def set_fate(self, idx: int, *, death: int, emigration: int, returned: int = NEVER) -> None:
        """Replace one person's fate from the start of treatment follow-up on (`returned`:
        back from the emigration on that day)."""
        self.death_day[idx] = death
        self.out_day[idx] = emigration
        self.return_day[idx] = returned
        self.disappear_day[idx] = NEVER
        if emigration != NEVER and self.out_country[idx] < 0:
            self.out_country[idx] = 0

    def as_of(self, day: int) -> Population:
        """The spine as the CPR register knew it on `day` (an earlier cut-off of the same
        world): later deaths, migrations, disappearances, CPR changes, moves and surname
        changes have not happened yet. Persons born or arriving later keep their index
        but are not `registered()`."""
        if day >= self.cutoff:
            return self

        def until(days: np.ndarray) -> np.ndarray:
            return np.where(days <= day, days, NEVER).astype(days.dtype)

        renumbered = self.changed_day > day
        moved = self.moved_day > day
        renamed = self.renamed_day > day
        muni, region, postnr = self.muni.copy(), self.region.copy(), self.postnr.copy()
        for idx, (m, r, p) in zip(self.moved[moved], self.moved_from[moved], strict=True):
            muni[idx], region[idx], postnr[idx] = m, r, p
        return replace(
            self,
            cutoff=day,
            cpr=_restore(
                self.cpr,
                self.changed[renumbered],
                self.changed_old_cpr.filter(pa.array(renumbered)).to_pylist(),
            ),
            efternavn=_restore(
                self.efternavn,
                self.renamed[renamed],
                [n for n, later in zip(self.renamed_from, renamed, strict=True) if later],
            ),
            muni=muni,
            region=region,
            postnr=postnr,
            out_day=until(self.out_day),
            return_day=until(self.return_day),
            death_day=until(self.death_day),
            disappear_day=until(self.disappear_day),
            changed=self.changed[~renumbered],
            changed_old_cpr=self.changed_old_cpr.filter(pa.array(~renumbered)),
            changed_day=self.changed_day[~renumbered],
            moved=self.moved[~moved],
            moved_day=self.moved_day[~moved],
            moved_from=self.moved_from[~moved],
            renamed=self.renamed[~renamed],
            renamed_day=self.renamed_day[~renamed],
            renamed_from=[
                n for n, later in zip(self.renamed_from, renamed, strict=True) if not later
            ],
        )

    def registered(self) -> np.ndarray:
        """Mask of persons holding a CPR number on the cut-off (born or arrived by then)."""
        return (self.birth <= self.cutoff) & (self.in_day_or_past() <= self.cutoff)

    def status(self) -> tuple[np.ndarray, np.ndarray]:
        """CPR status code ('01', '70', '80', '90') and its date, as of the cut-off."""
        code = np.full(self.n, "01", dtype="<U2")
        when = np.where(self.in_day != NEVER, self.in_day, self.birth)
        when = np.where(self.return_day != NEVER, self.return_day, when)
        emigrated = (self.out_day != NEVER) & (self.return_day == NEVER)
        code[emigrated] = "80"
        when = np.where(emigrated, self.out_day, when)
        gone = self.disappear_day != NEVER
        code[gone] = "70"
        when = np.where(gone, self.disappear_day, when)
        dead = self.death_day != NEVER
        code[dead] = "90"
        when = np.where(dead, self.death_day, when)
        return code, when.astype(np.int32)


def _restore(values: pa.Array, idx: np.ndarray, earlier: list[str]) -> pa.Array:
    """`values` with the persons at `idx` given back their `earlier` text."""
    if len(idx) == 0:
        return values
    text = values.to_pylist()
    for i, value in zip(idx.tolist(), earlier, strict=True):
        text[i] = value
    return pa.array(text, pa.string())


def build_population(rng: np.random.Generator, persons: int, cutoff: date) -> Population:
    """Draw the spine of `persons` persons resident at some point from 2019 to `cutoff`."""
    cut = day_number(cutoff)
    birth = _draw_births(rng, persons, cut)
    age_2019 = np.maximum(0.0, (LPR3_START - birth) / YEAR)
    male_share = 0.512 - 0.25 * np.clip(age_2019 - 60, 0, 40) / 40
    sex = np.where(rng.random(persons) < male_share, 1, 2).astype(np.int8)

    muni, region, postnr = geography.draw_residence(rng, persons)
    fornavn, mellemnavn, efternavn = _draw_names(rng, sex)

    in_day, in_country = _draw_immigration(rng, birth, cut)
    start = np.maximum(np.maximum(birth, LPR3_START), np.where(in_day == NEVER, 0, in_day))
    death = _draw_deaths(rng, birth, start, cut)
    out_day, out_country, return_day = _draw_emigration(rng, birth, start, in_day, cut)
    # What happens abroad is not registered: a death during a stay abroad is not seen.
    out_day = np.where(death < out_day, NEVER, out_day).astype(np.int32)
    abroad_death = (out_day != NEVER) & (death > out_day) & (death < return_day)
    death = np.where(abroad_death, NEVER, death).astype(np.int32)
    return_day = np.where(abroad_death, NEVER, return_day).astype(np.int32)
    out_country = np.where(out_day == NEVER, -1, out_country).astype(np.int16)
    disappear = _draw_disappearances(rng, start, np.minimum(death, out_day), cut)
    death = np.where(disappear != NEVER, NEVER, death).astype(np.int32)
    out_day = np.where(disappear != NEVER, NEVER, out_day).astype(np.int32)
    return_day = np.where(disappear != NEVER, NEVER, return_day).astype(np.int32)

    pop = Population(
        cutoff=cut,
        birth=birth,
        sex=sex,
        karyotype_xy=sex == 1,
        cpr=pa.array([], pa.string()),
        fornavn=fornavn,
        mellemnavn=mellemnavn,
        efternavn=efternavn,
        muni=muni,
        region=region,
        postnr=postnr,
        in_day=in_day,
        in_country=in_country,
        out_day=out_day,
        out_country=out_country,
        return_day=return_day,
        death_day=death,
        disappear_day=disappear,
        changed=np.zeros(0, np.int64),
        changed_old_cpr=pa.array([], pa.string()),
        changed_day=np.zeros(0, np.int32),
    )
    _issue_all_cprs(rng, pop)
    pop.family_seed = int(rng.integers(0, 2**63 - 1))
    return pop


def _draw_births(rng: np.random.Generator, n: int, cut: int) -> np.ndarray:
    cut_year = (np.datetime64(cut, "D").astype("datetime64[Y]").astype(int)) + 1970
    years = np.arange(1920, cut_year + 1)
    knots_y, knots_b = zip(*_BIRTH_KNOTS, strict=True)
    births = np.interp(years, knots_y, knots_b)
    age_2019 = np.maximum(0, 2019 - years + 0.5)
    survival = np.exp(-GOMPERTZ_A / GOMPERTZ_B * (np.exp(GOMPERTZ_B * age_2019) - 1))
    first_days = np.array([day_number(date(int(y), 1, 1)) for y in years])
    year_len = np.array([day_number(date(int(y) + 1, 1, 1)) for y in years]) - first_days
    year_len[-1] = cut - first_days[-1] + 1  # the cut-off year only up to the cut-off
    weights = births * survival * year_len / 365.0
    pick = rng.choice(len(years), size=n, p=weights / weights.sum())
    return (first_days[pick] + np.floor(rng.random(n) * year_len[pick])).astype(np.int32)


def _draw_names(rng: np.random.Generator, sex: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
    n = len(sex)
    male = pa.array(names.MALE_FIRST)
    female = pa.array(names.FEMALE_FIRST)
    fornavn = pc.if_else(
        pa.array(sex == 1),
        male.take(pa.array(rng.integers(0, len(male), n))),
        female.take(pa.array(rng.integers(0, len(female), n))),
    )
    middle_idx = rng.integers(0, len(names.MIDDLE_NAMES), n)
    has_middle = rng.random(n) < 0.35
    mellemnavn = pa.array(names.MIDDLE_NAMES).take(pa.array(middle_idx, mask=~has_middle))
    surnames = pa.array([s for s, _ in names.SURNAMES])
    weights = np.array([w for _, w in names.SURNAMES])
    first = surnames.take(pa.array(rng.choice(len(weights), n, p=weights / weights.sum())))
    second = surnames.take(pa.array(rng.choice(len(weights), n, p=weights / weights.sum())))
    double = pa.array(rng.random(n) < 0.04)
    efternavn = pc.if_else(double, pc.binary_join_element_wise(first, second, "-"), first)
    return fornavn, mellemnavn, efternavn


def _country(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.array([w for _, w in names.COUNTRIES])
    return rng.choice(len(weights), n, p=weights / weights.sum()).astype(np.int16)


def _draw_immigration(
    rng: np.random.Generator, birth: np.ndarray, cut: int
) -> tuple[np.ndarray, np.ndarray]:
    """About 10 % arrived from abroad, at some point since 1980 (or their birth)."""
    n = len(birth)
    immigrant = rng.random(n) < 0.10
    lo = np.maximum(birth, day_number(date(1980, 1, 1)))
    in_day = lo + np.floor(rng.random(n) * (cut - lo + 1))
    in_day = np.where(immigrant & (lo <= cut), in_day, NEVER).astype(np.int32)
    country = np.where(in_day != NEVER, _country(rng, n), -1).astype(np.int16)
    return in_day, country


def _draw_deaths(
    rng: np.random.Generator, birth: np.ndarray, start: np.ndarray, cut: int
) -> np.ndarray:
    """Gompertz time to death from each person's start of presence; NEVER after cut-off."""
    age0 = (start - birth) / YEAR
    e = rng.exponential(size=len(birth))
    age_at_death = np.log(e * GOMPERTZ_B / GOMPERTZ_A + np.exp(GOMPERTZ_B * age0)) / GOMPERTZ_B
    death = start + np.floor((age_at_death - age0) * YEAR)
    return np.where(death <= cut, death, NEVER).astype(np.int32)


def _draw_emigration(
    rng: np.random.Generator, birth: np.ndarray, start: np.ndarray, in_day: np.ndarray, cut: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Emigration (young adults and recent immigrants most), a third of them return."""
    n = len(birth)
    age0 = (start - birth) / YEAR
    rate = np.where((age0 >= 18) & (age0 < 38), 0.012, 0.003)
    rate = np.where(in_day != NEVER, rate * 4, rate)
    out = start + np.floor(rng.exponential(1 / rate) * YEAR)
    out = np.where(out <= cut, out, NEVER).astype(np.int32)
    back = out + 30 + np.floor(rng.exponential(2.0, n) * YEAR)
    returns = (out != NEVER) & (rng.random(n) < 0.33) & (back <= cut)
    return_day = np.where(returns, back, NEVER).astype(np.int32)
    return out, _country(rng, n), return_day


def _draw_disappearances(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, cut: int
) -> np.ndarray:
    """A few per ten thousand lose contact with the authorities (status 70)."""
    n = len(start)
    last = np.minimum(end, cut)
    day = start + np.floor(rng.random(n) * np.maximum(last - start, 0))
    gone = (rng.random(n) < 0.0005) & (start < last)
    return np.where(gone, day, NEVER).astype(np.int32)


# --- CPR numbers -----------------------------------------------------------------------------


def _issue_all_cprs(rng: np.random.Generator, pop: Population) -> None:
    """Issue unique CPR numbers, then replace a handful (legal sex change, date correction).

    Numbers of persons born from 2008 on are sometimes issued without a valid modulus-11
    check digit, as the CPR office has done since 2007; all others pass.
    """
    n = pop.n
    exempt = (pop.birth >= MOD11_EXEMPT_FROM) & (rng.random(n) < 0.35)
    first, last = pop.window()
    adult = (pop.cutoff - pop.birth) / YEAR >= 20
    eligible = np.flatnonzero(adult & (first < last - 400) & (pop.in_day == NEVER))
    k = min(len(eligible), max(3, round(n * 5e-5)))
    changed = np.sort(rng.choice(eligible, size=k, replace=False)) if k else np.zeros(0, np.int64)
    changed_day = first[changed] + np.floor(rng.random(k) * (last[changed] - first[changed]))
    sex_change = rng.random(k) < 0.7

    # The originally issued numbers: birth dates as first registered (a few wrong by days).
    orig_birth = pop.birth.copy()
    orig_sex = pop.sex.copy()
    corrected = changed[~sex_change]
    orig_birth[corrected] = orig_birth[corrected] + rng.choice(
        [-11, -2, -1, 1, 3, 10], len(corrected)
    )
    orig_sex[changed[sex_change]] = 3 - orig_sex[changed[sex_change]]
    pop.karyotype_xy = orig_sex == 1

    births = np.concatenate([orig_birth, pop.birth[changed]])
    sexes = np.concatenate([orig_sex, pop.sex[changed]])
    exempt_all = np.concatenate([exempt, np.zeros(k, bool)])
    numbers = _issue(rng, births, sexes, exempt_all)
    current = numbers[:n].copy()
    current[changed] = numbers[n:]
    pop.changed = changed.astype(np.int64)
    pop.changed_day = changed_day.astype(np.int32)
    pop.changed_old_cpr = _as_text(numbers[:n][changed])
    pop.cpr = _as_text(current)


def _as_text(numbers: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=10, padding="0")


def _issue(
    rng: np.random.Generator, birth: np.ndarray, sex: np.ndarray, exempt: np.ndarray
) -> np.ndarray:
    """Unique 10-digit CPR numbers (as int64) for the given birth days and sexes."""
    dt = birth.astype("datetime64[D]")
    years = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    yy = years % 100
    prefix = days * 10**8 + months * 10**6 + yy * 10**4
    digits6 = np.stack([days // 10, days % 10, months // 10, months % 10, yy // 10, yy % 10])
    prefix_sum = (np.array(MOD11_WEIGHTS[:6])[:, None] * digits6).sum(axis=0)

    serial = np.zeros(len(birth), np.int64)
    todo = np.ones(len(birth), bool)
    while todo.any():
        idx = np.flatnonzero(todo)
        serial[idx] = _draw_serials(rng, years[idx], sex[idx], exempt[idx], prefix_sum[idx])
        numbers = prefix + serial
        # Re-draw every later holder of a number that is already taken.
        _, first_pos = np.unique(numbers, return_index=True)
        todo = np.ones(len(birth), bool)
        todo[first_pos] = False
    return prefix + serial


def _draw_serials(
    rng: np.random.Generator,
    years: np.ndarray,
    sex: np.ndarray,
    exempt: np.ndarray,
    prefix_sum: np.ndarray,
) -> np.ndarray:
    """Serial numbers SSSS honouring the century digit, sex parity and modulus-11 rule."""
    n = len(years)
    out = np.zeros(n, np.int64)
    todo = np.ones(n, bool)
    while todo.any():
        idx = np.flatnonzero(todo)
        m = len(idx)
        # Draw a candidate seventh digit from each group (2000s, rare 4/9, common 0-3), then
        # keep the first that encodes the year under the CPR century rule.
        modern = rng.integers(4, 10, m)
        rare = rng.random(m) < 0.05
        four_or_nine = rng.choice([4, 9], m)
        common = rng.integers(0, 4, m)
        options = seventh_digit_options(years[idx])
        rows = np.arange(m)
        d7 = np.where(
            options[rows, common],
            np.where(rare & options[rows, four_or_nine], four_or_nine, common),
            modern,
        )
        d8 = rng.integers(0, 10, m)
        d9 = rng.integers(0, 10, m)
        s9 = prefix_sum[idx] + 4 * d7 + 3 * d8 + 2 * d9
        check = (-s9) % 11
        random_d10 = rng.integers(0, 5, m) * 2 + (sex[idx] == 1)
        d10 = np.where(exempt[idx], random_d10, check)
        parity_ok = (d10 % 2 == 1) == (sex[idx] == 1)
        passes = (s9 + d10) % 11 == 0
        ok = parity_ok & (d10 <= 9) & np.where(exempt[idx], ~passes, passes)
        out[idx[ok]] = d7[ok] * 1000 + d8[ok] * 100 + d9[ok] * 10 + d10[ok]
        todo[idx[ok]] = False
    return out
