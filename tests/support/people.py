"""An English/US-style pair of people files with known true matches, made at test time.

Deliberately unlike the platform's data: other column names, another language, US date
order and five-digit zip codes. The right file holds a corrupted copy of about 70 % of the
left file's people (typos, swapped day and month, a wrong digit, missing zip codes) and
some people of its own. Names are drawn from short generic lists; nothing is real.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FIRST = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Dorothy",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Jason",
    "Sharon",
)
LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "O'Brien",
    "McDonald",
    "Smith-Jones",
    "St. Clair",
)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class PeopleFiles:
    left: Path
    right: Path
    truth: set[tuple[str, str]]  # (left id, right id) of the true matches


def make_people(folder: Path, *, persons: int = 2000, seed: int = 5) -> PeopleFiles:
    rng = np.random.default_rng(seed)
    people = [_person(rng) for _ in range(persons)]
    left_ids = [f"P{i:05d}" for i in range(persons)]
    shared = rng.random(persons) < 0.7
    right_rows, truth = [], set()
    for i in np.flatnonzero(shared):
        rid = f"R-{rng.integers(10**6, 10**7)}-{i}"
        right_rows.append((rid, *_corrupt(rng, people[i])))
        truth.add((left_ids[i], rid))
    for j in range(persons // 4):
        right_rows.append((f"R-new-{j}", *_corrupt(rng, _person(rng))))
    order = rng.permutation(len(right_rows))
    right_rows = [right_rows[k] for k in order]

    folder.mkdir(parents=True, exist_ok=True)
    left = folder / "customers.csv"
    with left.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["PersonID", "GivenName", "Surname", "BirthDate", "ZIP", "City"])
        for pid, (first, last, born, zip_code, city) in zip(left_ids, people, strict=True):
            writer.writerow([pid, first, last, born.strftime("%m/%d/%Y"), zip_code, city])
    right = folder / "patients.parquet"
    columns = list(zip(*right_rows, strict=True))
    pq.write_table(
        pa.table(
            {
                "rec_id": pa.array(columns[0], pa.string()),
                "fname": pa.array(columns[1], pa.string()),
                "lname": pa.array(columns[2], pa.string()),
                "dob": pa.array(columns[3], pa.string()),
                "zipcode": pa.array(columns[4], pa.string()),
                "town": pa.array(columns[5], pa.string()),
            }
        ),
        right,
    )
    return PeopleFiles(left, right, truth)


def _person(rng: np.random.Generator) -> tuple[str, str, date, str, str]:
    born = date(1930, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 85)))
    zip_code = f"{int(rng.integers(10000, 10060)):05d}"  # a small area: many shared zips
    city = ("Springfield", "Riverside", "Franklin", "Greenville", "Clinton")[
        int(rng.integers(0, 5))
    ]
    return (
        FIRST[int(rng.integers(0, len(FIRST)))],
        LAST[int(rng.integers(0, len(LAST)))],
        born,
        zip_code,
        city,
    )


def _corrupt(
    rng: np.random.Generator, person: tuple[str, str, date, str, str]
) -> tuple[str, str, str | None, str | None, str]:
    first, last, born, zip_code, city = person
    if rng.random() < 0.1:
        first = _typo(rng, first)
    if rng.random() < 0.1:
        last = _typo(rng, last)
    if rng.random() < 0.2:
        first, last = first.upper(), last.upper()
    y, m, d = born.year, born.month, born.day
    roll = rng.random()
    if roll < 0.05 and d <= 12 and d != m:
        m, d = d, m
    elif roll < 0.10:
        y += 1 if rng.random() < 0.5 else -1
    dob = None if rng.random() < 0.02 else f"{y:04d}-{m:02d}-{d:02d}"
    if rng.random() < 0.05:
        zip_code = zip_code[:4] + str((int(zip_code[4]) + 1) % 10)
    zip_out = None if rng.random() < 0.1 else zip_code
    return first, last, dob, zip_out, city.lower()


def _typo(rng: np.random.Generator, text: str) -> str:
    i = int(rng.integers(1, len(text)))
    return text[:i] + LETTERS[int(rng.integers(0, 26))] + text[i + 1 :]
