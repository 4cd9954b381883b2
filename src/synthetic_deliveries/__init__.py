"""Synthetic national deliveries for developing and testing medfollow without real data.

`generate` writes one delivery folder per source under `OUT/landing/` - in the formats,
encodings and conventions of the real Danish registries - and the answer key under
`OUT/ground_truth/`. `generate_rounds` simulates one world up to its last cut-off and
delivers it month by month under `OUT/rounds/<YYYY-MM-DD>/`, as the registries send it:
snapshot sources their state as of each cut-off, incremental sources only what became
known since the previous one. Same arguments, byte-identical output: every source draws
from its own random stream keyed by its name, and nothing time-dependent is written.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medfollow_core.types import Progress
from synthetic_deliveries.catalogue import load_indications
from synthetic_deliveries.cohort import Treatment, build_cohort
from synthetic_deliveries.cohort_records import CohortRecords, render_cohort
from synthetic_deliveries.danish_csv import day_number
from synthetic_deliveries.families import FH_VARIANT_KEY, build_families
from synthetic_deliveries.ground_truth import write_ground_truth
from synthetic_deliveries.population import Population, build_population
from synthetic_deliveries.rng import derived_seed, stream
from synthetic_deliveries.sequencing import SequencingPlan, plan_sequencing
from synthetic_deliveries.situations import (
    add_arrivals,
    add_moves_and_renames,
    add_situations,
    reissue_before_assessment,
)
from synthetic_deliveries.sources import (
    SourceContext,
    biobank,
    causes_of_death,
    cpr_register,
    crossborder,
    hospital_medicines,
    laboratory,
    lpr3,
    optout,
    outcomes,
    prescriptions,
)

__all__ = ["SynthResult", "generate", "generate_rounds"]

_Step = Callable[[str], None]


@dataclass(frozen=True)
class SynthResult:
    """What a run (or one month of `generate_rounds`) wrote, for the CLI's summary."""

    out: Path
    deliveries: tuple[Path, ...]
    ground_truth: Path
    persons: int
    treated: int
    genomes: int


@dataclass(frozen=True)
class _World:
    """Population, treated cohort and their registry footprints up to the last cut-off."""

    seed: int
    pop: Population
    cohort: list[Treatment]
    records: CohortRecords


@dataclass(frozen=True)
class _Month:
    """What one month delivers besides each source's own rows: its opt-out snapshots and
    the rows of the world's sequencing plan sampled in it."""

    since: date | None
    cutoff: date
    optouts: list[tuple[date, optout.OptOuts]]
    genome_rows: range


def generate(
    out: Path,
    *,
    persons: int,
    seed: int,
    genomes: int = 0,
    cutoff: date = date(2026, 9, 30),
    progress: Progress | None = None,
) -> SynthResult:
    """Write a complete synthetic delivery set for `persons` persons into `out`."""
    _check(persons, genomes)
    step = _counter(progress, 13 + (1 if genomes else 0))
    world = _build_world(seed, persons, cutoff, step)
    months, plan = _plan_months(world, [cutoff], genomes)
    return _write_month(Path(out), world, months[0], plan, progress, step)


def generate_rounds(
    out: Path,
    *,
    persons: int,
    seed: int,
    genomes: int = 0,
    cutoffs: Sequence[date],
    progress: Progress | None = None,
) -> list[SynthResult]:
    """Deliver one world month by month: `out/rounds/<cut-off>/{landing,ground_truth}`.

    The world is simulated up to the last cut-off; each later month adds a few residents
    who arrive in it (with a blood test, a prescription and a biobank sample) and gives a
    treated patient assessed in it a new CPR number, so its rows include persons the
    previous register did not know; a few residents move or change surname in it. Each month sequences `genomes` more persons, sampled
    in that month. Cut-offs must increase and fall in different months (delivery ids are
    `<source>-<YYYYMM>`).
    """
    _check(persons, genomes)
    cutoffs = list(cutoffs)
    if not cutoffs:
        raise ValueError("cutoffs must name at least one cut-off")
    if any(b <= a for a, b in itertools.pairwise(cutoffs)):
        raise ValueError("cutoffs must increase")
    if len({(c.year, c.month) for c in cutoffs}) < len(cutoffs):
        raise ValueError("cutoffs must fall in different months (one delivery id per month)")
    world = _build_world(seed, persons, cutoffs[-1], lambda _label: None)
    probe = SourceContext(Path(out), seed, cutoffs[-1], world.pop, world.cohort, world.records)
    assessed, assessed_on, _ = outcomes.assessed(probe, probe.rng(outcomes.SOURCE))
    for before, cutoff in itertools.pairwise(cutoffs):
        window = (day_number(before), day_number(cutoff))
        add_arrivals(
            stream(seed, f"arrivals:{cutoff}"), world.cohort, world.pop, world.records, window
        )
        add_moves_and_renames(stream(seed, f"moves:{cutoff}"), world.pop, window)
        reissue_before_assessment(
            stream(seed, f"reissue:{cutoff}"),
            world.cohort,
            world.pop,
            (assessed, assessed_on),
            window,
        )
    months, plan = _plan_months(world, cutoffs, genomes)
    results = []
    for month in months:
        monthly = _prefixed(progress, f"{month.cutoff.isoformat()}: ")
        step = _counter(monthly, 11 + (1 if len(month.genome_rows) else 0))
        folder = Path(out) / "rounds" / month.cutoff.isoformat()
        results.append(_write_month(folder, world, month, plan, monthly, step))
    return results


def _prefixed(progress: Progress | None, prefix: str) -> Progress | None:
    """Progress labels of one month, prefixed with its cut-off."""
    if progress is None:
        return None
    report = progress

    def monthly(label: str, done: int, total: int) -> None:
        report(prefix + label, done, total)

    return monthly


def _check(persons: int, genomes: int) -> None:
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if genomes < 0:
        raise ValueError("genomes must not be negative")


def _counter(progress: Progress | None, total: int) -> _Step:
    report = progress or (lambda _label, _done, _total: None)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        report(label, done, total)

    return step


def _build_world(seed: int, persons: int, cutoff: date, step: _Step) -> _World:
    pop = build_population(stream(seed, "population"), persons, cutoff)
    step("population")
    indications = load_indications()
    cohort = build_cohort(stream(seed, "cohort"), pop, indications)
    add_situations(stream(seed, "situations"), cohort, pop, indications)
    records = render_cohort(
        stream(seed, "cohort_records"), cohort, pop, stream(seed, "situation_records")
    )
    step("treated cohort")
    return _World(seed, pop, cohort, records)


def _named(name: str, k: int, cutoff: date) -> str:
    """A stream name per month; the first month keeps the single-delivery name."""
    return name if k == 0 else f"{name}:{cutoff.isoformat()}"


def _plan_months(
    world: _World, cutoffs: list[date], genomes: int
) -> tuple[list[_Month], SequencingPlan | None]:
    """Opt-out register states and genome samples month by month, and the world's whole
    sequencing plan (biobank sample ids are numbered over the whole world, so every month
    shows the same id for the same sample)."""
    seed, pop = world.seed, world.pop
    register = pop.as_of(day_number(cutoffs[0]))
    state = optout.standing_optouts(seed, register, cutoffs[0])
    sequenced = np.zeros(0, np.int64)
    plans: list[SequencingPlan] = []
    months: list[_Month] = []
    for k, cutoff in enumerate(cutoffs):
        since = cutoffs[k - 1] if k else None
        register = pop.as_of(day_number(cutoff))
        start = len(sequenced)
        if genomes:
            opted_out = state.person[state.active(register.cutoff)]
            month_plan = plan_sequencing(
                stream(seed, _named("sequencing", k, cutoff)),
                register,
                world.cohort,
                opted_out,
                genomes,
                since=None if since is None else day_number(since),
                done=sequenced,
            )
            plans.append(month_plan)
            sequenced = np.concatenate([sequenced, month_plan.person])
        before = optout.previous_cutoff(cutoff) if since is None else since
        current = optout.month_update(
            stream(seed, _named(f"source:{optout.SOURCE}", k, cutoff)),
            register,
            state,
            sequenced,
            day_number(before),
        )
        snapshots = [(before, state), (cutoff, current)] if since is None else [(cutoff, current)]
        months.append(
            _Month(
                since=since,
                cutoff=cutoff,
                optouts=snapshots,
                genome_rows=range(start, len(sequenced)),
            )
        )
        state = current
    if not plans:
        return months, None
    plan = SequencingPlan(
        person=np.concatenate([p.person for p in plans]),
        day=np.concatenate([p.day for p in plans]),
        minute=np.concatenate([p.minute for p in plans]),
    )
    return months, plan


def _write_month(
    out: Path,
    world: _World,
    month: _Month,
    plan: SequencingPlan | None,
    progress: Progress | None,
    step: _Step,
) -> SynthResult:
    landing = out / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    ctx = SourceContext(
        landing=landing,
        seed=world.seed,
        cutoff=month.cutoff,
        pop=world.pop,
        cohort=world.cohort,
        records=world.records,
        since=month.since,
    )
    deliveries: list[Path] = []
    for label, writer in (
        ("cpr", cpr_register.write),
        ("lpr3", lpr3.write),
        ("sygehusmedicin", hospital_medicines.write),
        ("lmdb", prescriptions.write),
        ("doedsaarsag", causes_of_death.write),
        ("lab", laboratory.write),
    ):
        deliveries.append(writer(ctx))
        step(label)
    bank = biobank.write(ctx, plan)
    deliveries.append(bank.path)
    step("biobank")
    deliveries.append(outcomes.write(ctx))
    step("outcomes")
    cross = crossborder.write(ctx)
    deliveries.append(cross.path)
    step("outcomes_crossborder")
    deliveries.extend(optout.write(ctx, month.optouts))
    step("optout")

    genome_truth = None
    rows = month.genome_rows
    if plan is not None and len(rows):
        samples = _genome_samples(ctx, plan, bank.dna_sample_ids)
        from synthetic_deliveries.genomes import write_genomes  # written separately; heavy deps
        from synthetic_deliveries.planted import load_named_positions

        # One simulation of every genome the world sequences, whichever month delivers it:
        # every month's delivery has the same reference and sites.
        deliveries.append(
            write_genomes(
                landing,
                samples,
                seed=derived_seed(world.seed, "genomes"),
                cutoff=month.cutoff,
                progress=progress,
                deliver=rows,
                positions=load_named_positions(),
                truth=out / "ground_truth",
            )
        )
        step("genomes")
        # The answer key holds every genome delivered so far.
        genome_truth = pa.table(
            {
                "genome_id": samples["genome_id"],
                "sample_id": samples["sample_id"],
                "person_id": pa.array(plan.person + 1),
            }
        ).slice(0, rows.stop)
    else:
        _remove_stale_genomes(landing)

    register = ctx.register
    treated = [tr for tr in world.cohort if tr.treatment_day <= register.cutoff]
    links = cross.links
    until = pa.scalar(register.cutoff, pa.int32()).cast(pa.date32())
    known = pc.less_equal(links["treatment_date"], until)
    truth = write_ground_truth(
        out,
        register,
        treated,
        crossborder_links=links.filter(known),
        legacy_links=bank.legacy_links,
        genomes=genome_truth,
    )
    step("ground truth")
    return SynthResult(
        out=out,
        deliveries=tuple(deliveries),
        ground_truth=truth,
        persons=int(register.registered().sum()),
        treated=sum(1 for tr in treated if tr.person >= 0),
        genomes=len(rows),
    )


def _genome_samples(ctx: SourceContext, plan: SequencingPlan, sample_ids: list[str]) -> pa.Table:
    """The sample manifest handed to the genome writer (CPR valid on the sampling day);
    `planted` names the variant the writer plants in a sample (an FH carrier's LDLR
    variant), null for none."""
    carrier = build_families(ctx.pop).carrier[plan.person]
    return pa.table(
        {
            "genome_id": pa.array(plan.genome_ids, pa.string()),
            "sample_id": pa.array(sample_ids, pa.string()),
            "cpr": ctx.pop.cpr_at(plan.person, plan.day),
            "karyotype": pa.array(np.where(ctx.pop.karyotype_xy[plan.person], "XY", "XX")),
            "planted": pa.array(np.where(carrier, FH_VARIANT_KEY, ""), pa.string(), mask=~carrier),
        }
    )


def _remove_stale_genomes(landing: Path) -> None:
    """A run without genomes must not leave an earlier run's genome delivery behind."""
    shutil.rmtree(landing / "genomes", ignore_errors=True)
