"""Synthetic national deliveries for developing and testing medfollow without real data.

`generate` writes one delivery folder per source under `OUT/landing/` - in the formats,
encodings and conventions of the real Danish registries - and the answer key under
`OUT/ground_truth/`. Same arguments, byte-identical output: every source draws from its
own random stream keyed by its name, and nothing time-dependent is written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from medfollow_core.types import Progress
from synthetic_deliveries.catalogue import load_indications
from synthetic_deliveries.cohort import build_cohort
from synthetic_deliveries.cohort_records import render_cohort
from synthetic_deliveries.ground_truth import write_ground_truth
from synthetic_deliveries.population import build_population
from synthetic_deliveries.rng import derived_seed, stream
from synthetic_deliveries.sequencing import SequencingPlan, plan_sequencing
from synthetic_deliveries.situations import add_situations
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

__all__ = ["SynthResult", "generate"]


@dataclass(frozen=True)
class SynthResult:
    """What a run wrote, for the CLI's summary."""

    out: Path
    deliveries: tuple[Path, ...]
    ground_truth: Path
    persons: int
    treated: int
    genomes: int


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
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if genomes < 0:
        raise ValueError("genomes must not be negative")
    report = progress or (lambda _label, _done, _total: None)
    total = 13 + (1 if genomes else 0)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        report(label, done, total)

    out = Path(out)
    landing = out / "landing"
    landing.mkdir(parents=True, exist_ok=True)

    pop = build_population(stream(seed, "population"), persons, cutoff)
    step("population")
    indications = load_indications()
    cohort = build_cohort(stream(seed, "cohort"), pop, indications)
    add_situations(stream(seed, "situations"), cohort, pop, indications)
    records = render_cohort(
        stream(seed, "cohort_records"), cohort, pop, stream(seed, "situation_records")
    )
    step("treated cohort")

    ctx = SourceContext(
        landing=landing, seed=seed, cutoff=cutoff, pop=pop, cohort=cohort, records=records
    )
    standing = optout.standing_optouts(seed, pop, cutoff)
    plan = None
    if genomes:
        opted_out = standing.person[standing.active(pop.cutoff)]
        plan = plan_sequencing(stream(seed, "sequencing"), pop, cohort, opted_out, genomes)

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
    sequenced = plan.person if plan is not None else np.zeros(0, np.int64)
    deliveries.extend(optout.write(ctx, standing, sequenced))
    step("optout")

    genome_truth = None
    if plan is not None:
        samples = _genome_samples(ctx, plan, bank.dna_sample_ids)
        from synthetic_deliveries.genomes import write_genomes  # written separately; heavy deps

        deliveries.append(
            write_genomes(
                landing,
                samples,
                seed=derived_seed(seed, "genomes"),
                cutoff=cutoff,
                progress=progress,
            )
        )
        step("genomes")
        genome_truth = pa.table(
            {
                "genome_id": samples["genome_id"],
                "sample_id": samples["sample_id"],
                "person_id": pa.array(plan.person + 1),
            }
        )
    else:
        _remove_stale_genomes(landing)

    truth = write_ground_truth(
        out,
        pop,
        cohort,
        crossborder_links=cross.links,
        legacy_links=bank.legacy_links,
        genomes=genome_truth,
    )
    step("ground truth")
    return SynthResult(
        out=out,
        deliveries=tuple(deliveries),
        ground_truth=truth,
        persons=pop.n,
        treated=sum(1 for tr in cohort if tr.person >= 0),
        genomes=len(sequenced),
    )


def _genome_samples(ctx: SourceContext, plan: SequencingPlan, sample_ids: list[str]) -> pa.Table:
    """The sample manifest handed to the genome writer (CPR valid on the sampling day)."""
    return pa.table(
        {
            "genome_id": pa.array(plan.genome_ids, pa.string()),
            "sample_id": pa.array(sample_ids, pa.string()),
            "cpr": ctx.pop.cpr_at(plan.person, plan.day),
            "karyotype": pa.array(np.where(ctx.pop.karyotype_xy[plan.person], "XY", "XX")),
        }
    )


def _remove_stale_genomes(landing: Path) -> None:
    """A run without genomes must not leave an earlier run's genome delivery behind."""
    shutil.rmtree(landing / "genomes", ignore_errors=True)
