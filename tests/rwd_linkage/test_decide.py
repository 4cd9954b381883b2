"""Decisions per record: thresholds, shares, reviewer decisions, sticky links, one-to-one."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from rwd_linkage.decide import (
    Candidate,
    Decision,
    Link,
    Outcome,
    PriorLink,
    Thresholds,
    decide,
    shares,
)
from rwd_linkage.keys import Minter

SRC = "outcomes_crossborder__patients"
T0 = datetime(2026, 1, 1)


def cand(person: str, probability: float) -> Candidate:
    """A candidate whose weight agrees with its probability (no prior)."""
    weight = math.log2(probability / (1 - probability)) if probability < 1 else 60.0
    return Candidate(person, probability, weight, {"dob": {"gamma": 3, "level": "exact"}})


DEFAULT = Thresholds()


def run(
    records: list[tuple[str, str]],
    candidates: list[tuple[str, str, Candidate]],
    *,
    decisions: dict[tuple[str, str], list[Decision]] | None = None,
    prior: dict[tuple[str, str], PriorLink] | None = None,
    spine: tuple[str, ...] = ("P1", "P2", "P3"),
    one_to_one: tuple[str, ...] = (SRC,),
    thresholds: Thresholds = DEFAULT,
) -> Outcome:
    return decide(
        records,
        candidates,
        thresholds=thresholds,
        decisions=decisions or {},
        prior=prior or {},
        in_spine=set(spine).__contains__,
        one_to_one=set(one_to_one),
        mint=Minter(b"k" * 32),
    )


def by_record(outcome: Outcome) -> dict[str, Link]:
    return {lk.record_id: lk for lk in outcome.links}


def test_thresholds_link_review_and_mint() -> None:
    records = [(SRC, "sure"), (SRC, "unsure"), (SRC, "unlikely"), (SRC, "nothing")]
    outcome = run(
        records,
        [
            (SRC, "sure", cand("P1", 0.999)),
            (SRC, "unsure", cand("P2", 0.8)),
            (SRC, "unlikely", cand("P3", 0.2)),
        ],
    )
    links = by_record(outcome)
    assert (links["sure"].method, links["sure"].person_key) == ("probabilistic", "P1")
    assert links["sure"].probability == pytest.approx(0.999)
    for record in ("unsure", "unlikely", "nothing"):
        assert links[record].method == "minted" and links[record].minted
    assert [(i.record_id, i.candidate.person_key, i.reason) for i in outcome.review] == [
        ("unsure", "P2", "uncertain")
    ]


def test_two_plausible_persons_split_the_probability_and_go_to_review() -> None:
    outcome = run(
        [(SRC, "twin")], [(SRC, "twin", cand("P1", 0.99)), (SRC, "twin", cand("P2", 0.99))]
    )
    assert by_record(outcome)["twin"].method == "minted"
    assert {i.candidate.person_key for i in outcome.review} == {"P1", "P2"}
    assert {i.reason for i in outcome.review} == {"more than one plausible person"}
    assert all(i.candidate.share == pytest.approx(0.4975, abs=1e-3) for i in outcome.review)


def test_shares_are_stable_for_near_certain_pairs() -> None:
    found = shares([Candidate("P1", 1.0, 900.0, {}), Candidate("P2", 1.0, 890.0, {})])
    assert found[0].person_key == "P1"
    assert found[0].share == pytest.approx(1 / (1 + 2**-10))


def test_reviewer_match_wins_and_pair_rejection_removes_candidate() -> None:
    decisions = {
        (SRC, "a"): [Decision("P2", "match", T0)],
        (SRC, "b"): [Decision("P1", "no_match", T0)],
        (SRC, "c"): [Decision(None, "no_match", T0)],
    }
    outcome = run(
        [(SRC, "a"), (SRC, "b"), (SRC, "c")],
        [
            (SRC, "a", cand("P1", 0.99)),
            (SRC, "a", cand("P2", 0.6)),
            (SRC, "b", cand("P1", 0.999)),
            (SRC, "b", cand("P3", 0.999)),
            (SRC, "c", cand("P1", 0.999)),
        ],
        decisions=decisions,
    )
    links = by_record(outcome)
    assert (links["a"].person_key, links["a"].method) == ("P2", "review")
    assert (links["b"].person_key, links["b"].method) == ("P3", "probabilistic")
    assert links["c"].method == "review" and links["c"].minted  # reviewer: nobody in the spine
    assert outcome.review == []


def test_latest_decision_counts() -> None:
    decisions = {
        (SRC, "a"): [
            Decision("P1", "match", T0),
            Decision(None, "no_match", T0 + timedelta(days=1)),
        ]
    }
    outcome = run([(SRC, "a")], [(SRC, "a", cand("P1", 0.999))], decisions=decisions)
    assert by_record(outcome)["a"].minted


def test_earlier_link_is_kept_and_disagreement_is_reviewed() -> None:
    prior = {
        (SRC, "a"): PriorLink("P1", "probabilistic", 0.97, "run-1"),
        (SRC, "b"): PriorLink("P2", "probabilistic", 0.99, "run-1"),
    }
    outcome = run(
        [(SRC, "a"), (SRC, "b")],
        [(SRC, "a", cand("P3", 0.999)), (SRC, "b", cand("P2", 0.999))],
        prior=prior,
    )
    links = by_record(outcome)
    assert (links["a"].person_key, links["a"].run_id) == ("P1", "run-1")
    assert (links["b"].person_key, links["b"].run_id) == ("P2", "run-1")
    assert {(i.record_id, i.candidate.person_key) for i in outcome.review} == {
        ("a", "P3"),
        ("a", "P1"),
    }
    assert {i.reason for i in outcome.review} == {"today's model disagrees with the earlier link"}


def test_earlier_link_to_a_person_gone_from_the_spine_is_redecided() -> None:
    prior = {(SRC, "a"): PriorLink("GONE", "probabilistic", 0.97, "run-1")}
    outcome = run([(SRC, "a")], [(SRC, "a", cand("P3", 0.999))], prior=prior)
    assert by_record(outcome)["a"].person_key == "P3"


def test_one_to_one_conflicts_go_to_review_unless_one_claim_is_older() -> None:
    pairs = [
        (SRC, "new1", cand("P1", 0.999)),
        (SRC, "new2", cand("P1", 0.999)),
        (SRC, "old", cand("P2", 0.999)),
        (SRC, "new3", cand("P2", 0.999)),
    ]
    prior = {(SRC, "old"): PriorLink("P2", "probabilistic", 0.999, "run-1")}
    outcome = run([(SRC, r) for r in ("new1", "new2", "old", "new3")], pairs, prior=prior)
    links = by_record(outcome)
    assert links["new1"].minted and links["new2"].minted and links["new3"].minted
    assert links["old"].person_key == "P2"
    assert {i.record_id for i in outcome.review} == {"new1", "new2", "new3"}
    assert {i.reason for i in outcome.review} == {
        "another record of this source claims the same person"
    }


def test_many_to_one_sources_may_share_a_person() -> None:
    legacy = "biobank__legacy"
    outcome = run(
        [(legacy, "s1"), (legacy, "s2")],
        [(legacy, "s1", cand("P1", 0.999)), (legacy, "s2", cand("P1", 0.999))],
    )
    assert {lk.person_key for lk in outcome.links} == {"P1"}


def test_minted_keys_are_stable_keyed_and_per_source() -> None:
    mint = Minter(b"k" * 32)
    # stable: a fresh minter (another run, another process) with the same key agrees
    assert mint(SRC, "X-1") == Minter(b"k" * 32)(SRC, "X-1")
    assert mint(SRC, "X-1") != mint(SRC, "X-2")
    assert mint(SRC, "X-1") != mint("biobank__legacy", "X-1")
    assert Minter(b"j" * 32)(SRC, "X-1") != mint(SRC, "X-1")
    assert len(mint(SRC, "X-1")) == 64


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        Thresholds(upper=0.5, lower=0.9)
