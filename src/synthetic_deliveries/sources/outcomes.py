"""The clinical outcome extract (UTF-8, `;`, decimal comma, DD-MM-YYYY).

Assessments at the product's timepoints, derived from the cohort truth: response
deteriorates to PD / MRD-pos once the patient has progressed (and response follow-up ends
there), nothing is assessed after death, emigration or the cut-off, CRS/ICANS/ICU data sit
on the day-30 assessment, and some assessments are missing or not evaluated - as in real
clinical quality databases. Patients treated abroad are reported in the cross-border
extract instead, with the same columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from synthetic_deliveries.cohort import MOTOR_MILESTONES, Treatment
from synthetic_deliveries.cohort_records import fix_activity
from synthetic_deliveries.danish_csv import NEVER, fmt_date, fmt_decimal, hyphenate_some
from synthetic_deliveries.sources import SourceContext

SOURCE = "outcomes"
OUTCOME_COLUMNS = (
    "vurderingsdato",
    "tidspunkt",
    "produkt",
    "respons",
    "crs_grad",
    "crs_debut",
    "icans_grad",
    "icans_debut",
    "intensiv",
    "tocilizumab",
    "steroid",
    "faktor_ix_aktivitet",
    "abr",
    "profylakse_genoptaget",
    "motor_milepael",
    "eq5d_index",
)
_PROGRESSED = {"lugano": "PD", "imwg": "PD", "mrd": "MRD-pos"}
_MOTOR_GAIN = {90: 0.3, 180: 0.55, 365: 0.8, 730: 1.0}
_EQ5D = {
    "CR": 0.86,
    "sCR": 0.86,
    "MRD-neg": 0.86,
    "VGPR": 0.82,
    "PR": 0.78,
    "SD": 0.7,
    "PD": 0.6,
    "MRD-pos": 0.65,
}


def assessments(rng: np.random.Generator, tr: Treatment) -> list[dict[str, Any]]:
    """The recorded assessments of one treated patient (days as day numbers)."""
    rows: list[dict[str, Any]] = []
    t = tr.treatment_day
    scale = tr.indication.response_scale
    for i, tp in enumerate(tr.profile.timepoints):
        nominal = t + tp
        if nominal > tr.followup_end:
            break
        day = int(min(nominal + int(rng.integers(-5, 11)), tr.followup_end))
        if rng.random() < 0.05 + 0.02 * i:
            continue  # assessment not reported
        row: dict[str, Any] = dict.fromkeys(OUTCOME_COLUMNS)
        row.update(vurderingsdato=day, tidspunkt=tp, produkt=tr.indication.product.code)
        progressed = False
        if scale in _PROGRESSED:
            progressed = tr.progressed_by(day)
            if progressed:
                row["respons"] = _PROGRESSED[scale]
            elif rng.random() >= 0.04:  # else: not evaluated at this visit
                row["respons"] = tr.initial_response if tp <= 30 else tr.best_response
        if tr.crs_grade is not None and tp == 30:
            row.update(
                crs_grad=tr.crs_grade,
                crs_debut=tr.crs_onset,
                icans_grad=tr.icans_grade,
                icans_debut=tr.icans_onset,
                intensiv="ja" if tr.icu_day != NEVER and tr.icu_day <= t + 30 else "nej",
                tocilizumab="ja" if tr.tocilizumab else "nej",
                steroid="ja" if tr.steroid else "nej",
            )
        if scale == "factor_ix":
            resumed = tr.prophylaxis_resumed_day <= day
            row.update(
                faktor_ix_aktivitet=fix_activity(tr, day) * float(rng.uniform(0.85, 1.15)),
                abr=float(
                    rng.gamma(2.0, 1.5) if resumed or tr.fix_plateau < 5 else rng.gamma(0.5, 0.8)
                ),
                profylakse_genoptaget="ja" if resumed else "nej",
            )
        if scale == "motor":
            level = round(tr.motor_level * _MOTOR_GAIN.get(tp, 1.0))
            if tr.motor_decline_day <= day:
                level = max(0, level - 1)
            row["motor_milepael"] = MOTOR_MILESTONES[level]
        if tr.age_at(day) >= 18 and rng.random() < 0.7:
            base = _EQ5D.get(row["respons"] or "", 0.84)
            row["eq5d_index"] = float(np.clip(rng.normal(base, 0.08), -0.2, 1.0))
        rows.append(row)
        if progressed:
            break  # response follow-up ends at progression
    return rows


def outcome_columns(rows: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """Render assessment rows in the extract's formats (shared with the cross-border one)."""

    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    def days(name: str) -> pa.Array:
        return fmt_date(
            np.array([NEVER if v is None or v == NEVER else v for v in col(name)], dtype=np.int64)
        )

    def decimals(name: str, places: int) -> pa.Array:
        values = col(name)
        missing = np.array([v is None for v in values])
        return fmt_decimal(np.array([0.0 if v is None else v for v in values]), places, missing)

    return {
        "vurderingsdato": days("vurderingsdato"),
        "tidspunkt": pa.array(col("tidspunkt"), pa.int64()),
        "produkt": pa.array(col("produkt"), pa.string()),
        "respons": pa.array(col("respons"), pa.string()),
        "crs_grad": pa.array(col("crs_grad"), pa.int64()),
        "crs_debut": days("crs_debut"),
        "icans_grad": pa.array(col("icans_grad"), pa.int64()),
        "icans_debut": days("icans_debut"),
        "intensiv": pa.array(col("intensiv"), pa.string()),
        "tocilizumab": pa.array(col("tocilizumab"), pa.string()),
        "steroid": pa.array(col("steroid"), pa.string()),
        "faktor_ix_aktivitet": decimals("faktor_ix_aktivitet", 1),
        "abr": decimals("abr", 1),
        "profylakse_genoptaget": pa.array(col("profylakse_genoptaget"), pa.string()),
        "motor_milepael": pa.array(col("motor_milepael"), pa.string()),
        "eq5d_index": decimals("eq5d_index", 3),
    }


def assessed(
    ctx: SourceContext, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """(person, day, row) of every assessment the extract reports, in delivery order; `rng`
    is the source's stream (the writer goes on drawing from it)."""
    rows: list[dict[str, Any]] = []
    people: list[int] = []
    for tr in ctx.cohort:
        if tr.person < 0 or tr.abroad:
            continue
        found = assessments(rng, tr)
        rows.extend(found)
        people.extend([tr.person] * len(found))
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["vurderingsdato"], people[i]))
    rows = [rows[i] for i in order]
    person = np.array([people[i] for i in order], dtype=np.int64)
    day = np.array([r["vurderingsdato"] for r in rows], dtype=np.int64)
    return person, day, rows


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    person, day, rows = assessed(ctx, rng)
    table = pa.table(
        {
            "cpr": hyphenate_some(ctx.pop.cpr_at(person, day), rng, 0.02),
            **outcome_columns(rows),
        }
    )
    delivery = ctx.delivery(SOURCE)
    delivery.csv("outcomes.csv", "outcomes", table, days=day)
    return delivery.close()
