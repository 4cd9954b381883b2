"""The review queue: uncertain and conflicting pairs wait for a human, decisions recorded with
`linkage decide` are applied and kept by later runs, and one-to-one holds for cross-border
patients."""

from __future__ import annotations

import re
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from medfollow.cli.linkage import app
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import Pseudonymiser, load_key
from rwd_linkage.decide import Thresholds
from rwd_linkage.keys import Minter
from rwd_linkage.run import run_linkage
from support.deliveries import write_delivery
from support.linkage import ingest, links, rows, synth_deliveries
from synthetic_deliveries import SynthResult

CROSSBORDER = "outcomes_crossborder__patients"
STRICT = Thresholds(upper=0.9999, lower=0.5)  # a cautious deployment: more goes to review
runner = CliRunner()


def identity(synth: SynthResult, row: int) -> dict[str, Any]:
    """A spine person's true identity from the ground truth (CPR pseudonymised here)."""
    persons = pq.read_table(synth.ground_truth / "persons.parquet")
    person = {name: persons[name][row].as_py() for name in persons.column_names}
    person["person_key"] = Pseudonymiser(load_key()).one(person.pop("cpr"))
    return person


def patient(foreign_id: str, person: dict[str, Any]) -> dict[str, object]:
    return {
        "foreign_patient_id": foreign_id,
        "fornavn": person["fornavn"],
        "efternavn": person["efternavn"],
        "foedselsdato": person["foedselsdato"].strftime("%d-%m-%Y"),
        "koen": "M" if person["koen"] == 1 else "F",
        "postnr": f"{person['postnr']:04d}",
        "kommune": str(person["kommune"]),
    }


@pytest.fixture(scope="module")
def world(
    db_url: str, synth_small: SynthResult, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Synthetic deliveries plus two cross-border records that are the same person."""
    root = tmp_path_factory.mktemp("review")
    linked = set(
        pq.read_table(synth_small.ground_truth / "crossborder_links.parquet")["person_id"]
        .drop_null()
        .to_pylist()
    )
    persons = pq.read_table(synth_small.ground_truth / "persons.parquet", columns=["person_id"])
    row = next(i for i, pid in enumerate(persons["person_id"].to_pylist()) if pid not in linked)
    person = identity(synth_small, row)
    extra = write_delivery(
        root,
        "outcomes_crossborder",
        {"patients": [patient("XB-DUP-1", person), patient("XB-DUP-2", person)]},
        delivery_id="outcomes_crossborder-extra",
    )
    ingest(db_url, load_key(), [*synth_deliveries(synth_small), extra])
    first = run_linkage(db_url, load_key(), thresholds=STRICT, state_dir=root)
    return {"person": person, "root": root, "first": first}


def queue(url: str) -> dict[str, list[tuple[Any, ...]]]:
    found: dict[str, list[tuple[Any, ...]]] = {}
    for record_id, person_key, share, reason in rows(
        url,
        "select record_id, candidate_person_key, share, reason from linkage.review_queue "
        "order by record_id, candidate_rank",
    ):
        found.setdefault(record_id, []).append((person_key, share, reason))
    return found


def test_uncertain_and_conflicting_records_wait_for_review(
    db_url: str, world: dict[str, Any]
) -> None:
    queued = queue(db_url)
    person_key = world["person"]["person_key"]
    assert queued["XB-DUP-1"][0][0] == queued["XB-DUP-2"][0][0] == person_key
    assert queued["XB-DUP-1"][0][2] == "another record of this source claims the same person"
    uncertain = [r for r, items in queued.items() if items[0][2] != queued["XB-DUP-1"][0][2]]
    assert uncertain, "the strict threshold should leave some records uncertain"
    found = links(db_url)
    for record_id in queued:
        source = (
            CROSSBORDER if record_id.startswith(("XB", "SE", "NO", "FI")) else "biobank__legacy"
        )
        assert found[(source, record_id)]["method"] == "minted"
    assert all(
        row["match_probability"] >= STRICT.upper
        for row in found.values()
        if row["method"] == "probabilistic"
    )


def test_decisions_are_applied_and_kept(
    db_url: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", db_url)
    person_key = world["person"]["person_key"]
    uncertain_record, uncertain_items = next(
        (r, items) for r, items in queue(db_url).items() if not r.startswith("XB-")
    )
    rejected = uncertain_items[0][0]
    source = CROSSBORDER if uncertain_record[:2] in ("SE", "NO", "FI") else "biobank__legacy"
    for args in (
        ["decide", CROSSBORDER, "XB-DUP-1", "--person-key", person_key, "--match"],
        ["decide", CROSSBORDER, "XB-DUP-2", "--no-match", "--note", "a namesake"],
        ["decide", source, uncertain_record, "--person-key", rejected, "--no-match"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output

    second = run_linkage(db_url, load_key(), thresholds=STRICT, state_dir=world["root"])
    found = links(db_url)
    assert (
        found[(CROSSBORDER, "XB-DUP-1")]["person_key"],
        found[(CROSSBORDER, "XB-DUP-1")]["method"],
    ) == (person_key, "review")
    dup2 = found[(CROSSBORDER, "XB-DUP-2")]
    assert (dup2["method"], dup2["person_key"]) == (
        "review",
        Minter(load_key())(CROSSBORDER, "XB-DUP-2"),
    )
    assert found[(source, uncertain_record)]["person_key"] != rejected
    queued = queue(db_url)
    assert "XB-DUP-1" not in queued and "XB-DUP-2" not in queued
    assert rejected not in [k for k, _, _ in queued.get(uncertain_record, [])]
    assert ("XB-DUP-1", "merge") in rows(
        db_url,
        "select record_id, event from linkage.key_history where run_id = %s",
        (second.run_id,),
    )

    run_linkage(db_url, load_key(), thresholds=STRICT, state_dir=world["root"])
    assert links(db_url) == found  # decisions keep holding; nothing moves


def test_decide_rejects_unknown_records(
    db_url: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", db_url)
    result = runner.invoke(app, ["decide", CROSSBORDER, "NO-SUCH-ID", "--no-match"])
    assert isinstance(result.exception, MedfollowError)
    assert "no record 'NO-SUCH-ID'" in str(result.exception) and "\n" not in str(result.exception)
    result = runner.invoke(app, ["decide", CROSSBORDER, "XB-DUP-1", "--person-key", "f" * 64])
    assert isinstance(result.exception, MedfollowError)


def test_queue_holds_identifiers_not_names(db_url: str, world: dict[str, Any]) -> None:
    names = {str(world["person"][k]).lower() for k in ("fornavn", "efternavn")}
    words = set(
        re.findall(
            r"\w+",
            " ".join(
                str(v).lower()
                for row in rows(db_url, "select * from linkage.review_queue")
                for v in row
            ),
        )
    )
    assert not names & words
