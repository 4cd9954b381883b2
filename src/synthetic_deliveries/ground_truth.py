"""The answer key: what really happened, for testing ingest, linkage and the marts.

Written as Parquet under `OUT/ground_truth/`. It holds real identities alongside person ids
because its purpose is to check that pseudonymisation, linkage and follow-up logic recover
the truth; it is synthetic data and must never be loaded into the warehouse. For one month
of a longer world (`generate_rounds`) `pop` is the register as of that month's cut-off and
the truth is what had happened by then: later treatments are left out, later dates blank.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic_deliveries.cohort import Treatment
from synthetic_deliveries.danish_csv import NEVER, to_date32, write_parquet
from synthetic_deliveries.families import FH_VARIANT_KEY, build_families, fh_care
from synthetic_deliveries.population import Population

GENOME_TRUTH_FILE = "genome_positions.csv"
"""Written by the genome writer (planted.TRUTH_FILE) before the rest of the answer key."""


def write_ground_truth(
    out: Path,
    pop: Population,
    cohort: list[Treatment],
    *,
    crossborder_links: pa.Table,
    legacy_links: pa.Table,
    genomes: pa.Table | None,
) -> Path:
    path = out / "ground_truth"
    # The genome writer has already put this month's genotype answer key here; anything
    # else is an earlier run's and goes.
    keep = {GENOME_TRUTH_FILE} if genomes is not None else set()
    if path.exists():
        for stale in path.iterdir():
            if stale.name in keep:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    path.mkdir(parents=True, exist_ok=True)
    write_parquet(_persons(pop, cohort), path / "persons.parquet")
    treatments = _treatments(pop, cohort, crossborder_links)
    if any(tr.cutoff > pop.cutoff for tr in cohort):
        treatments = _as_of(treatments, pop.cutoff)
    write_parquet(treatments, path / "treatments.parquet")
    write_parquet(crossborder_links, path / "crossborder_links.parquet")
    write_parquet(legacy_links, path / "biobank_legacy_links.parquet")
    write_parquet(_cpr_changes(pop), path / "cpr_changes.parquet")
    write_parquet(_fh_carriers(pop), path / "fh_carriers.parquet")
    if genomes is not None:
        write_parquet(genomes, path / "genomes.parquet")
    return path


def _persons(pop: Population, cohort: list[Treatment]) -> pa.Table:
    status, status_day = pop.status()
    treated = np.zeros(pop.n, bool)
    treated[[tr.person for tr in cohort if tr.person >= 0]] = True
    table = pa.table(
        {
            "person_id": pa.array(pop.person_id),
            "cpr": pop.cpr,
            "fornavn": pop.fornavn,
            "mellemnavn": pop.mellemnavn,
            "efternavn": pop.efternavn,
            "koen": pa.array(pop.sex.astype(np.int8)),
            "karyotype": pa.array(np.where(pop.karyotype_xy, "XY", "XX")),
            "foedselsdato": to_date32(pop.birth),
            "region": pa.array(pop.region.astype(np.int16)),
            "kommune": pa.array(pop.kommune.astype(np.int16)),
            "postnr": pa.array(pop.postnr.astype(np.int16)),
            "immigration_date": to_date32(pop.in_day),
            "emigration_date": to_date32(pop.out_day),
            "return_date": to_date32(pop.return_day),
            "death_date": to_date32(pop.death_day),
            "disappearance_date": to_date32(pop.disappear_day),
            "status": pa.array(status),
            "status_date": to_date32(status_day),
            "treated": pa.array(treated),
        }
    )
    registered = pop.registered()
    return table if registered.all() else table.filter(pa.array(registered))


def _as_of(treatments: pa.Table, cutoff: int) -> pa.Table:
    """The treatments given by `cutoff`, with what happened later not yet known."""
    day = pa.scalar(cutoff, pa.int32()).cast(pa.date32())
    treatments = treatments.filter(pc.less_equal(treatments["treatment_date"], day))
    for i, name in enumerate(treatments.column_names):
        column = treatments[name]
        if column.type != pa.date32():
            continue
        later = pc.greater(column, day)
        blank = day if name == "followup_end" else pa.scalar(None, pa.date32())
        known = pc.if_else(later, blank, column)
        treatments = treatments.set_column(i, name, known)
    return treatments


def _treatments(pop: Population, cohort: list[Treatment], links: pa.Table) -> pa.Table:
    """One row per treatment: each treated patient's first ATMP (line 1) and, for the
    patients given a different one afterwards (situations), that second ATMP (line 2)."""
    first = [tr for tr in cohort if tr.person >= 0]
    second = [tr.second_atmp for tr in first if tr.second_atmp is not None]
    spine = first + second
    foreign = {
        pid: fid
        for fid, pid in zip(
            links["foreign_patient_id"].to_pylist(), links["person_id"].to_pylist(), strict=True
        )
        if pid is not None
    }

    def days(values: list[int]) -> pa.Array:
        return to_date32(np.array(values, dtype=np.int64))

    def grade(values: list[int | None]) -> pa.Array:
        return pa.array(values, pa.int8())

    return pa.table(
        {
            "person_id": pa.array([tr.person + 1 for tr in spine], pa.int64()),
            "cpr": pop.cpr.take(pa.array([tr.person for tr in spine], pa.int64())),
            "product_code": pa.array([tr.indication.product.code for tr in spine], pa.string()),
            "indication_group": pa.array([tr.indication.group for tr in spine], pa.string()),
            "atmp_line": pa.array([1] * len(first) + [2] * len(second), pa.int8()),
            "response_scale": pa.array([tr.indication.response_scale for tr in spine], pa.string()),
            "diagnosis_code": pa.array([tr.indication.diagnosis_code for tr in spine], pa.string()),
            "diagnosis_date": days([tr.diagnosis_day for tr in spine]),
            "treatment_date": days([tr.treatment_day for tr in spine]),
            "treated_abroad": pa.array([tr.abroad for tr in spine]),
            "foreign_patient_id": pa.array(
                [foreign.get(tr.person + 1) for tr in spine], pa.string()
            ),
            "prior_lines": pa.array([tr.prior_lines for tr in spine], pa.int8()),
            "crs_grade": grade([tr.crs_grade for tr in spine]),
            "crs_onset_date": days([tr.crs_onset for tr in spine]),
            "icans_grade": grade([tr.icans_grade for tr in spine]),
            "icans_onset_date": days([tr.icans_onset for tr in spine]),
            "tocilizumab": pa.array([tr.tocilizumab for tr in spine]),
            "steroid": pa.array([tr.steroid for tr in spine]),
            "icu": pa.array([tr.icu_day != NEVER for tr in spine]),
            "icu_date": days([tr.icu_day for tr in spine]),
            "readmissions": pa.array([len(tr.readmissions) for tr in spine], pa.int8()),
            "ivig": pa.array([bool(tr.ivig_days) for tr in spine]),
            "prolonged_cytopenia": pa.array([tr.prolonged_cytopenia for tr in spine]),
            "best_response": pa.array([tr.best_response for tr in spine], pa.string()),
            "progression_date": days([tr.progression_day for tr in spine]),
            "subsequent_therapy_date": days([tr.subsequent_therapy_day for tr in spine]),
            "factor_ix_plateau": pa.array(
                [
                    tr.fix_plateau if tr.indication.response_scale == "factor_ix" else None
                    for tr in spine
                ],
                pa.float64(),
            ),
            "prophylaxis_resumed_date": days([tr.prophylaxis_resumed_day for tr in spine]),
            "death_date": days([tr.death_day for tr in spine]),
            "emigration_date": days([tr.emigration_day for tr in spine]),
            "abroad_from": days([tr.absence[0] if tr.absence else NEVER for tr in spine]),
            "abroad_until": days([tr.absence[1] if tr.absence else NEVER for tr in spine]),
            "reinfusion_date": days([tr.reinfusion_day for tr in spine]),
            "surgery_factor_ix_date": days([tr.surgery_dose_day for tr in spine]),
            "cpr_change_date": days([tr.cpr_change_day for tr in spine]),
            "followup_end": days([tr.followup_end for tr in spine]),
        }
    )


def _fh_carriers(pop: Population) -> pa.Table:
    """Per registered person: parents (person ids) and familial hypercholesterolaemia.

    `ldl_measured` and `treated_from` are what the registries show of a carrier by the
    cut-off (a measurement in the laboratory delivery, lipid-lowering dispensings from that
    date); both are null for non-carriers, whose background tests are not tracked here.
    """
    families = build_families(pop)
    care = fh_care(pop, families)
    measured = np.zeros(pop.n, bool)
    measured[care.ldl_person] = True
    highest = np.zeros(pop.n)
    np.maximum.at(highest, care.ldl_person, care.ldl_value)
    carrier = families.carrier

    def parent_id(parent: np.ndarray) -> pa.Array:
        return pa.array(parent + 1, pa.int64(), mask=parent < 0)

    table = pa.table(
        {
            "person_id": pa.array(pop.person_id),
            "carrier": pa.array(carrier),
            "variant_key": pa.array(
                np.where(carrier, FH_VARIANT_KEY, ""), pa.string(), mask=~carrier
            ),
            "ldl_measured": pa.array(measured, mask=~carrier),
            "highest_ldl": pa.array(np.round(highest, 1), pa.float64(), mask=~measured),
            "treated_from": to_date32(np.where(carrier, care.treated_from, NEVER)),
            "mother_id": parent_id(families.mother),
            "father_id": parent_id(families.father),
        }
    )
    registered = pop.registered()
    return table if registered.all() else table.filter(pa.array(registered))


def _cpr_changes(pop: Population) -> pa.Table:
    old = pop.changed_old_cpr
    new = pop.cpr.take(pa.array(pop.changed))
    same_birth = [o[:6] == n[:6] for o, n in zip(old.to_pylist(), new.to_pylist(), strict=True)]
    return pa.table(
        {
            "person_id": pa.array(pop.changed + 1),
            "old_cpr": old,
            "new_cpr": new,
            "change_date": to_date32(pop.changed_day),
            "reason": pa.array(
                ["sex_change" if s else "birth_date_correction" for s in same_birth], pa.string()
            ),
        }
    )
