"""Stable keys: a new CPR snapshot (births, a number change) and a new cross-border delivery
leave every existing person_key where it was, except the person whose number changed, whose
records follow the new number with a line in the key history."""

from __future__ import annotations

import csv
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest

from medfollow_core.pseudonymise import Pseudonymiser, load_key
from rwd_linkage.run import run_linkage
from support.deliveries import make_cpr, write_delivery
from support.linkage import ingest, links, person_row, rows, synth_deliveries
from synthetic_deliveries import SynthResult

LEGACY = "biobank__legacy"
CROSSBORDER = "outcomes_crossborder__patients"


def read_delivery(synth: SynthResult, file: str) -> list[dict[str, str]]:
    folder = next(d for d in synth.deliveries if d.parent.name == "cpr")
    with (folder / file).open(encoding="latin-1", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def plain(cpr: str) -> str:
    return cpr.replace("-", "")


@pytest.fixture(scope="module")
def before_and_after(
    db_url: str, synth_small: SynthResult, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    key = load_key()
    pseudonym = Pseudonymiser(key).one
    root = tmp_path_factory.mktemp("keys")
    ingest(db_url, key, synth_deliveries(synth_small))
    run_linkage(db_url, key, state_dir=root)
    before = links(db_url)

    # The person behind an automatically linked legacy sample gets a new CPR number.
    truth = pq.read_table(synth_small.ground_truth / "biobank_legacy_links.parquet").to_pylist()
    persons = {
        r["person_id"]: r["cpr"]
        for r in pq.read_table(
            synth_small.ground_truth / "persons.parquet", columns=["person_id", "cpr"]
        ).to_pylist()
    }
    sample = next(
        t for t in truth if before[(LEGACY, t["legacy_sample_id"])]["method"] == "probabilistic"
    )
    old_cpr = persons[sample["person_id"]]
    existing = {plain(r["cpr"]) for r in read_delivery(synth_small, "cpr_persons.csv")}
    born = date(
        int(old_cpr[4:6]) + (1900 if int(old_cpr[4:6]) > 26 else 2000),
        int(old_cpr[2:4]),
        int(old_cpr[:2]),
    )
    new_cpr = next(c for c in (make_cpr(born, s) for s in range(900, 1000)) if c not in existing)

    people = read_delivery(synth_small, "cpr_persons.csv")
    for row in people:
        if plain(row["cpr"]) == old_cpr:
            row["cpr"] = new_cpr
    people += [
        person_row(
            make_cpr(date(2026, 9, 1), 901 + i),
            name,
            "Nielsen",
            date(2026, 9, 1),
            sex="2",
            postnr="8000",
        )
        for i, name in enumerate(("Alma", "Ella"))
    ]
    changes = [
        *read_delivery(synth_small, "cpr_changes.csv"),
        {"gammelt_cpr": old_cpr, "nyt_cpr": new_cpr, "dato": "01-09-2026"},
    ]
    migrations = [
        {**m, "cpr": new_cpr if plain(m["cpr"]) == old_cpr else m["cpr"]}
        for m in read_delivery(synth_small, "cpr_migrations.csv")
    ]

    # Three more cross-border patients: two Danes (one transliterated), one stranger.
    ident = pq.read_table(synth_small.ground_truth / "persons.parquet").slice(100, 2).to_pylist()
    patients = [
        {
            "foreign_patient_id": f"NO-NEW-{i}",
            "fornavn": p["fornavn"].replace("ø", "oe"),
            "efternavn": p["efternavn"].replace("ø", "oe").replace("å", "aa"),
            "foedselsdato": p["foedselsdato"].isoformat(),
            "koen": str(p["koen"]),
            "postnr": f"{p['postnr']:04d}",
            "kommune": None,
        }
        for i, p in enumerate(ident)
    ]
    patients.append(
        {
            "foreign_patient_id": "NO-NEW-X",
            "fornavn": "Sunniva",
            "efternavn": "Dalby",
            "foedselsdato": "1984-03-03",
            "koen": "F",
            "postnr": None,
            "kommune": None,
        }
    )
    ingest(
        db_url,
        key,
        [
            write_delivery(
                root,
                "cpr",
                {"persons": people, "changes": changes, "migrations": migrations},
                delivery_id="cpr-202610",
            ),
            write_delivery(
                root,
                "outcomes_crossborder",
                {"patients": patients},
                delivery_id="outcomes_crossborder-202610",
            ),
        ],
    )
    second = run_linkage(db_url, key, state_dir=root)
    return {
        "before": before,
        "after": links(db_url),
        "old": pseudonym(old_cpr),
        "new": pseudonym(new_cpr),
        "sample": sample["legacy_sample_id"],
        "run": second.run_id,
        "ident": [pseudonym(p["cpr"]) for p in ident],
    }


def test_existing_keys_do_not_move(before_and_after: dict[str, Any]) -> None:
    before, after, old = (
        before_and_after["before"],
        before_and_after["after"],
        before_and_after["old"],
    )
    kept = [
        record
        for record, row in before.items()
        if row["person_key"] != old and record != ("cpr__persons", old)
    ]
    assert kept
    for record in kept:
        assert after[record]["person_key"] == before[record]["person_key"], record


def test_the_renumbered_person_is_followed(db_url: str, before_and_after: dict[str, Any]) -> None:
    old, new, after = before_and_after["old"], before_and_after["new"], before_and_after["after"]
    assert after[(LEGACY, before_and_after["sample"])]["person_key"] == new
    history = rows(
        db_url,
        "select source, record_id, old_person_key, new_person_key, event "
        "from linkage.key_history where run_id = %s",
        (before_and_after["run"],),
    )
    assert (LEGACY, before_and_after["sample"], old, new, "cpr_change") in history
    assert {h[4] for h in history} == {"cpr_change"}
    assert all(h[2] == old and h[3] == new for h in history)


def test_new_records_are_linked_or_minted(before_and_after: dict[str, Any]) -> None:
    after = before_and_after["after"]
    assert [
        after[(CROSSBORDER, f"NO-NEW-{i}")]["person_key"] for i in range(2)
    ] == before_and_after["ident"]
    assert after[(CROSSBORDER, "NO-NEW-X")]["method"] == "minted"
