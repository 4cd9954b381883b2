"""The LPR3 delivery: contacts, diagnoses and procedures (UTF-8, `;`, ISO dates).

Background contacts are drawn per person-year with age-dependent rates and an
age/sex-appropriate diagnosis mix; the treated cohort's contacts come from
`cohort_records`. Contact and course keys are assigned after everything is sorted by time,
so keys grow with calendar time as they do in the real register. Contact types ALCA00
(physical attendance) is certain; ALCA03 and ALCA10 are believed to be virtual contact and
home visit - verify before relying on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from synthetic_deliveries import codes
from synthetic_deliveries.background import (
    FH_DIAGNOSIS_CODE,
    age_at_midpoint,
    draw_events,
    fh_clinical,
)
from synthetic_deliveries.danish_csv import NEVER, fmt_date, fmt_time
from synthetic_deliveries.population import YEAR
from synthetic_deliveries.sources import SourceContext

SOURCE = "lpr3"
DAY = 1440
CONTACT_KEY_BASE = 1_000_000_000
COURSE_KEY_BASE = 5_000_000_000
RETRACTED_SHARE = 0.03

# (code, specialty, weight child <18, adult 18-64, elderly 65+, sex restriction, P(acute))
_DIAGNOSES: tuple[tuple[str, str, float, float, float, int, float], ...] = (
    ("DJ069", "Pædiatri", 10, 2, 1, 0, 0.8),
    ("DJ038", "Oto-rhino-laryngologi", 3, 1, 0.2, 0, 0.5),
    ("DK359", "Kirurgi", 2, 1, 0.3, 0, 1.0),
    ("DS525", "Ortopædisk kirurgi", 3, 3, 2, 0, 0.9),
    ("DS720", "Ortopædisk kirurgi", 0, 0.2, 3, 0, 1.0),
    ("DM545", "Ortopædisk kirurgi", 0.5, 5, 3, 0, 0.3),
    ("DI109", "Intern medicin", 0, 3, 6, 0, 0.1),
    ("DE119", "Endokrinologi", 0.1, 3, 5, 0, 0.1),
    ("DE780", "Kardiologi", 0, 0, 0, 0, 0.0),  # only from `background.fh_clinical`
    ("DJ449", "Lungesygdomme", 0, 1, 5, 0, 0.5),
    ("DI489", "Kardiologi", 0, 1, 5, 0, 0.5),
    ("DI219", "Kardiologi", 0, 0.5, 2, 0, 1.0),
    ("DF329", "Psykiatri", 0.5, 3, 1, 0, 0.2),
    ("DR074", "Akutmedicin", 0.2, 3, 3, 0, 0.9),
    ("DZ038", "Akutmedicin", 1, 3, 3, 0, 0.7),
    ("DN390", "Intern medicin", 1, 2, 3, 0, 0.6),
    ("DJ189", "Intern medicin", 1, 1, 4, 0, 0.9),
    ("DO800", "Gynækologi og obstetrik", 0.2, 4, 0, 2, 0.3),
    ("DC509", "Onkologi", 0, 0.5, 0.8, 2, 0.0),
    ("DC619", "Urologi", 0, 0.1, 0.8, 1, 0.0),
    ("DC189", "Kirurgi", 0, 0.3, 0.8, 0, 0.2),
    ("DH269", "Oftalmologi", 0, 0.3, 3, 0, 0.0),
    ("DH353", "Oftalmologi", 0, 0.1, 2, 0, 0.0),
    # Never drawn at random (weight 0): FH carriers' premature coronary disease.
    ("DI200", "Kardiologi", 0, 0, 0, 0, 1.0),
    ("DI251", "Kardiologi", 0, 0, 0, 0, 0.0),
)
_PLUS_CODES = ("DZ921", "DZ880", "DZ515")


def write(ctx: SourceContext) -> Path:
    rng = ctx.rng(SOURCE)
    pop = ctx.pop
    bg = _background(ctx, rng)
    rec = ctx.records
    n_bg = len(bg["person"])
    c = rec.contacts
    person = np.concatenate([bg["person"], c.array("person", np.int64)])
    start_day = np.concatenate([bg["start_day"], c.array("start_day", np.int64)])
    start_min = np.concatenate([bg["start_min"], c.array("start_min", np.int64)])
    end_day = np.concatenate([bg["end_day"], c.array("end_day", np.int64)])
    end_min = np.concatenate([bg["end_min"], c.array("end_min", np.int64)])
    # Course keys: background courses are numbered per run, cohort courses after them.
    course = np.concatenate(
        [bg["course"], bg["course"].max(initial=-1) + 1 + c.array("course", np.int64)]
    )
    specialty = np.concatenate([bg["specialty"], c.array("specialty", object)])
    region = np.concatenate([bg["region"], c.array("region", np.int64)])
    kind = np.concatenate([bg["kontakttype"], c.array("kontakttype", object)])
    priority = np.concatenate([bg["priority"], c.array("priority", object)])

    order = np.lexsort((person, start_min, start_day))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    contact_key = CONTACT_KEY_BASE + rank
    _, first_seen, course_inverse = np.unique(course[order], return_index=True, return_inverse=True)
    course_rank = np.argsort(np.argsort(first_seen))
    course_key_sorted = COURSE_KEY_BASE + course_rank[course_inverse]

    o = order
    kontakter = pa.table(
        {
            "dw_ek_kontakt": pa.array(contact_key[o]),
            "dw_ek_forloeb": pa.array(course_key_sorted),
            "cpr": pop.cpr_at(person[o], start_day[o]),
            "dato_start": fmt_date(start_day[o], "iso"),
            "tidspunkt_start": fmt_time(start_min[o]),
            "dato_slut": fmt_date(end_day[o], "iso"),
            "tidspunkt_slut": fmt_time(end_min[o]),
            "hovedspeciale_ans": pa.array(specialty[o].tolist(), pa.string()),
            "region": pa.array(region[o]),
            "kontakttype": pa.array(kind[o].tolist(), pa.string()),
            "prioritet": pa.array(priority[o].tolist(), pa.string()),
        }
    )

    d_contact = np.concatenate(
        [bg["diag_contact"], n_bg + rec.diagnoses.array("contact", np.int64)]
    )
    d_code = np.concatenate([bg["diag_code"], rec.diagnoses.array("code", object)])
    d_type = np.concatenate([bg["diag_type"], rec.diagnoses.array("type", object)])
    retracted = np.concatenate(
        [
            (rng.random(len(bg["diag_code"])) < RETRACTED_SHARE) & ~bg["diag_planted"],
            np.zeros(len(rec.diagnoses), bool),
        ]
    )
    d_order = np.lexsort((d_type, contact_key[d_contact]))
    diagnoser = pa.table(
        {
            "dw_ek_kontakt": pa.array(contact_key[d_contact][d_order]),
            "diagnosekode": pa.array(d_code[d_order].tolist(), pa.string()),
            "diagnosetype": pa.array(d_type[d_order].tolist(), pa.string()),
            "senere_afkraeftet": pa.array(np.where(retracted[d_order], "Ja", "Nej")),
        }
    )

    p_contact = np.concatenate(
        [bg["proc_contact"], n_bg + rec.procedures.array("contact", np.int64)]
    )
    p_code = np.concatenate([bg["proc_code"], rec.procedures.array("code", object)])
    p_day = np.concatenate([start_day[bg["proc_contact"]], rec.procedures.array("day", np.int64)])
    p_order = np.argsort(contact_key[p_contact], kind="stable")
    procedurer = pa.table(
        {
            "dw_ek_kontakt": pa.array(contact_key[p_contact][p_order]),
            "procedurekode": pa.array(p_code[p_order].tolist(), pa.string()),
            "dato_start": fmt_date(p_day[p_order], "iso"),
        }
    )

    # A contact is reported once it has ended, together with its diagnoses and procedures.
    delivery = ctx.delivery(SOURCE)
    delivery.csv("kontakter.csv", "kontakter", kontakter, days=end_day[o])
    delivery.csv("diagnoser.csv", "diagnoser", diagnoser, days=end_day[d_contact][d_order])
    delivery.csv("procedurer.csv", "procedurer", procedurer, days=end_day[p_contact][p_order])
    return delivery.close()


def _background(ctx: SourceContext, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Ordinary hospital contacts for the whole spine, plus the FH contacts of
    `background.fh_clinical`: a lipid clinic's DE780 diagnosis and carriers' premature
    coronary disease, whose A diagnosis is never retracted (the answer key counts them)."""
    pop = ctx.pop
    rate = 0.12 + 0.004 * age_at_midpoint(pop)
    person, day = draw_events(rng, pop, rate)
    clinical = fh_clinical(pop)
    diagnosed = np.flatnonzero(clinical.diagnosed_from != NEVER)
    fh_person = np.concatenate([diagnosed, clinical.cad_person])
    fh_day = np.concatenate([clinical.diagnosed_from[diagnosed], clinical.cad_day])
    fh_code = np.concatenate(
        [np.full(len(diagnosed), FH_DIAGNOSIS_CODE, object), clinical.cad_code]
    )
    _, last = pop.window()
    is_fh = np.concatenate([np.zeros(len(person), bool), np.ones(len(fh_person), bool)])
    person = np.concatenate([person, fh_person])
    day = np.concatenate([day, fh_day]).astype(np.int64)
    n = len(person)

    code_idx = _draw_diagnoses(rng, pop.birth[person], pop.sex[person], day)
    code_idx[is_fh] = [[c for c, *_ in _DIAGNOSES].index(str(c)) for c in fh_code]
    codes_arr = np.array([d[0] for d in _DIAGNOSES], dtype=object)
    specialties = np.array([d[1] for d in _DIAGNOSES], dtype=object)
    p_acute = np.array([d[6] for d in _DIAGNOSES])
    acute = rng.random(n) < p_acute[code_idx]
    start_min = np.where(acute, rng.integers(0, DAY, n), rng.integers(480, 900, n))
    inpatient = rng.random(n) < np.where(acute, 0.3, 0.08)
    minutes = np.where(inpatient, rng.integers(1, 11, n) * DAY, rng.integers(20, 240, n))
    stop = np.minimum(
        day * DAY + start_min + minutes, last[person].astype(np.int64) * DAY + DAY - 1
    )

    # Courses: a contact continues the person's previous course 40 % of the time.
    order = np.lexsort((start_min, day, person))
    same_person = np.concatenate([[False], person[order][1:] == person[order][:-1]])
    new_course = ~(same_person & (rng.random(n) < 0.4))
    course = np.empty(n, np.int64)
    course[order] = np.cumsum(new_course) - 1

    region = np.where(
        rng.random(n) < 0.9, pop.region[person], rng.choice(list(range(1081, 1086)), n)
    )
    kind = rng.choice(
        np.array(["ALCA00", "ALCA03", "ALCA10"], dtype=object), n, p=[0.88, 0.08, 0.04]
    )

    # Diagnoses: one A per contact, B for 30 %, a '+' supplementary code for 2 %.
    with_b = np.flatnonzero(rng.random(n) < 0.3)
    with_plus = np.flatnonzero(rng.random(n) < 0.02)
    b_codes = _draw_diagnoses(rng, pop.birth[person[with_b]], pop.sex[person[with_b]], day[with_b])
    diag_contact = np.concatenate([np.arange(n), with_b, with_plus])
    diag_code = np.concatenate(
        [
            codes_arr[code_idx],
            codes_arr[b_codes],
            np.array(_PLUS_CODES, dtype=object)[rng.integers(0, len(_PLUS_CODES), len(with_plus))],
        ]
    )
    diag_type = np.concatenate(
        [
            np.full(n, "A", object),
            np.full(len(with_b), "B", object),
            np.full(len(with_plus), "+", object),
        ]
    )
    proc_contact = np.flatnonzero(rng.random(n) < 0.25)
    proc_names = np.array([c for c, _ in codes.BACKGROUND_PROCEDURES], dtype=object)
    proc_w = np.array([w for _, w in codes.BACKGROUND_PROCEDURES])
    proc_code = proc_names[rng.choice(len(proc_names), len(proc_contact), p=proc_w / proc_w.sum())]
    return {
        "person": person,
        "start_day": day,
        "start_min": start_min,
        "end_day": stop // DAY,
        "end_min": stop % DAY,
        "course": course,
        "specialty": specialties[code_idx],
        "region": region,
        "kontakttype": kind,
        "priority": np.where(acute, "ATA1", "ATA3").astype(object),
        "diag_contact": diag_contact,
        "diag_code": diag_code,
        "diag_type": diag_type,
        "diag_planted": np.concatenate([is_fh, np.zeros(len(diag_code) - n, bool)]),
        "proc_contact": proc_contact,
        "proc_code": proc_code,
    }


def _draw_diagnoses(
    rng: np.random.Generator, birth: np.ndarray, sex: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Index into `_DIAGNOSES` per contact, from the age band and sex at the contact."""
    age = (day - birth) / YEAR
    band = np.digitize(age, [18, 65])
    out = np.zeros(len(age), np.int64)
    for b in range(3):
        for s in (1, 2):
            sel = np.flatnonzero((band == b) & (sex == s))
            if len(sel) == 0:
                continue
            w = np.array([d[2 + b] if d[5] in (0, s) else 0.0 for d in _DIAGNOSES])
            out[sel] = rng.choice(len(w), len(sel), p=w / w.sum())
    return out
