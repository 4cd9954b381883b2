"""Deterministic links on the pseudonymised CPR: number changes (also chains), persons outside
the register, and a later CPR change recorded in the key history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from medfollow_core.pseudonymise import Pseudonymiser, load_key
from rwd_linkage.run import run_linkage
from support.deliveries import make_cpr, write_delivery
from support.linkage import ingest, links, person_row, rows

A_OLD, A = make_cpr(date(1960, 1, 5), 11), make_cpr(date(1960, 1, 5), 12)
B1, B2, B3 = (make_cpr(date(1971, 3, 9), s) for s in (21, 22, 23))
C, C_NEW = make_cpr(date(1980, 7, 1), 31), make_cpr(date(1980, 7, 1), 32)
D, E, F = (
    make_cpr(date(1990, 2, 2), 41),
    make_cpr(date(1955, 5, 5), 51),
    make_cpr(date(2026, 6, 1), 61),
)


def spine(*people: tuple[str, str]) -> list[dict[str, object]]:
    born = {
        A: date(1960, 1, 5),
        B3: date(1971, 3, 9),
        C: date(1980, 7, 1),
        C_NEW: date(1980, 7, 1),
        E: date(1955, 5, 5),
        F: date(2026, 6, 1),
    }
    return [
        person_row(cpr, first, "Jensen", born[cpr], sex="2", postnr="2100") for cpr, first in people
    ]


def lab(*cprs: str) -> list[dict[str, object]]:
    return [
        {
            "cpr": c,
            "proevetid": "2024-05-01T08:00:00",
            "npu_kode": "NPU01566",
            "vaerdi": "7,1",
            "enhed": "mmol/l",
        }
        for c in cprs
    ]


@pytest.fixture(scope="module")
def first_run(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes, Path]:
    key = load_key()  # the test key tests/conftest.py puts in the environment
    root = tmp_path_factory.mktemp("deliveries")
    ingest(
        db_url,
        key,
        [
            write_delivery(
                root,
                "cpr",
                {
                    "persons": spine((A, "Anne"), (B3, "Bodil"), (C, "Clara"), (E, "Else")),
                    "changes": [
                        {"gammelt_cpr": A_OLD, "nyt_cpr": A, "dato": "01-02-2020"},
                        {"gammelt_cpr": B1, "nyt_cpr": B2, "dato": "01-02-2019"},
                        {"gammelt_cpr": B2, "nyt_cpr": B3, "dato": "01-02-2021"},
                    ],
                },
                delivery_id="cpr-202601",
            ),
            write_delivery(root, "lab", {"resultater": lab(A_OLD, B1, B3, C)}, delivery_id="lab-1"),
            write_delivery(
                root,
                "optout",
                {
                    "registreringer": [
                        {"cpr": D, "register": "vaev", "gyldig_fra": "01-01-2020"},
                        {"cpr": C, "register": "genetik", "gyldig_fra": "01-01-2021"},
                    ]
                },
                delivery_id="optout-1",
            ),
        ],
    )
    result = run_linkage(db_url, key, state_dir=root)
    return result.run_id, key, root


def test_records_resolve_to_current_keys(db_url: str, first_run: tuple[str, bytes, Path]) -> None:
    _, key, _ = first_run
    p = Pseudonymiser(key).one
    found = links(db_url)
    lab_links = {
        rid: row["person_key"] for (src, rid), row in found.items() if src == "lab__resultater"
    }
    assert lab_links == {p(A_OLD): p(A), p(B1): p(B3), p(B3): p(B3), p(C): p(C)}
    optout = {
        rid: row["person_key"]
        for (src, rid), row in found.items()
        if src == "optout__registreringer"
    }
    assert optout == {p(D): p(D), p(C): p(C)}  # D is not in the register: keeps its own key
    spine_keys = {rid for (src, rid) in found if src == "cpr__persons"}
    assert spine_keys == {p(A), p(B3), p(C), p(E)}
    assert {row["method"] for row in found.values()} == {"deterministic"}


def test_quality_counts_changes_and_outsiders(
    db_url: str, first_run: tuple[str, bytes, Path]
) -> None:
    run_id, _, _ = first_run
    figures = dict(
        ((s, m), v)
        for s, m, v in rows(
            db_url, "select source, metric, value from linkage.quality where run_id = %s", (run_id,)
        )
    )
    assert figures[("lab__resultater", "cpr_changes_resolved")] == 2
    assert figures[("optout__registreringer", "outside_spine")] == 1
    assert rows(db_url, "select status from linkage.runs where run_id = %s", (run_id,)) == [
        ("finished",)
    ]


def test_a_later_cpr_change_moves_records_and_is_recorded(
    db_url: str, first_run: tuple[str, bytes, Path]
) -> None:
    first_id, key, root = first_run
    p = Pseudonymiser(key).one
    before = links(db_url)
    ingest(
        db_url,
        key,
        [
            write_delivery(
                root,
                "cpr",
                {
                    "persons": spine(
                        (A, "Anne"), (B3, "Bodil"), (C_NEW, "Clara"), (E, "Else"), (F, "Freja")
                    ),
                    "changes": [
                        {"gammelt_cpr": A_OLD, "nyt_cpr": A, "dato": "01-02-2020"},
                        {"gammelt_cpr": B1, "nyt_cpr": B2, "dato": "01-02-2019"},
                        {"gammelt_cpr": B2, "nyt_cpr": B3, "dato": "01-02-2021"},
                        {"gammelt_cpr": C, "nyt_cpr": C_NEW, "dato": "01-06-2026"},
                    ],
                },
                delivery_id="cpr-202607",
            )
        ],
    )
    second = run_linkage(db_url, key, state_dir=root)

    after = links(db_url)
    assert after[("lab__resultater", p(C))]["person_key"] == p(C_NEW)
    assert after[("optout__registreringer", p(C))]["person_key"] == p(C_NEW)
    for record, row in before.items():
        if record in after and row["person_key"] != p(C):
            assert after[record]["person_key"] == row["person_key"]
            assert after[record]["run_id"] == first_id  # untouched links keep their run
    history = rows(
        db_url,
        "select source, record_id, old_person_key, new_person_key, event, run_id "
        "from linkage.key_history order by source",
    )
    assert history == [
        ("lab__resultater", p(C), p(C), p(C_NEW), "cpr_change", second.run_id),
        ("optout__registreringer", p(C), p(C), p(C_NEW), "cpr_change", second.run_id),
    ]
    assert second.key_changes == {"cpr_change": 2}


def test_too_few_records_to_train_still_links_cpr_sources(
    db_url: str, first_run: tuple[str, bytes, Path]
) -> None:
    _, key, root = first_run
    ingest(
        db_url,
        key,
        [
            write_delivery(
                root,
                "outcomes_crossborder",
                {
                    "patients": [
                        {
                            "foreign_patient_id": "SE-KS-1",
                            "fornavn": "Sunniva",
                            "efternavn": "Dalby",
                            "foedselsdato": "03-03-1984",
                            "koen": "F",
                            "postnr": None,
                            "kommune": None,
                        }
                    ]
                },
                delivery_id="outcomes_crossborder-1",
            )
        ],
    )
    result = run_linkage(db_url, key, state_dir=root)
    assert result.note and "too few records" in result.note
    found = links(db_url)
    assert found[("outcomes_crossborder__patients", "SE-KS-1")]["method"] == "minted"
    assert any(src == "lab__resultater" for src, _ in found)
    assert rows(
        db_url, "select status, message from linkage.runs where run_id = %s", (result.run_id,)
    ) == [("finished", result.note)]
