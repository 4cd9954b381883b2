"""Turn scored candidate pairs into one decision per record: linked, to review, or not found.

Order of precedence, strongest first:

1. A reviewer's decision. "match" links the record to that person; "no_match" on a pair
   removes that candidate; "no_match" without a person says the record has no person in
   the spine. Decisions survive every later run.
2. An earlier automatic link. Keys must not move because a model was retrained on a new
   delivery; if today's model disagrees, the link stays and the pair goes to a reviewer.
3. Today's model. The probability compared is the candidate's *share* of the record:
   Splink scores each pair on its own, but a record is at most one person, so the
   candidates' odds are normalised together with "nobody" (share = odds / (1 + sum of
   odds)). A best candidate whose share reaches the upper threshold links. Otherwise, if
   the shares together reach the lower threshold (the record is probably someone, but not
   clearly whom), the record goes to review; else it has no person in the spine. Two
   plausible persons (twins, namesakes born the same day) thereby split the probability and
   go to a human instead of to the first one.
4. One-to-one sources: when two records of the source claim one person, a human-made or
   earlier link keeps the person and the newcomers go to review; two newcomers both go.

Records without a link (not found, or waiting for review) get a minted key of their own,
so that every record still resolves to exactly one person_key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

MAX_REVIEW_CANDIDATES = 5
_WEIGHT_BOUND = 1000.0  # keeps 2**weight finite for pairs Splink calls certain


@dataclass(frozen=True)
class Thresholds:
    """``upper``: the share a candidate needs to be linked. ``lower``: the probability that
    the record is someone at all, below which an unlinked record is not worth a review."""

    upper: float = 0.95
    lower: float = 0.50

    def __post_init__(self) -> None:
        if not 0.0 < self.lower <= self.upper <= 1.0:
            raise ValueError("thresholds need 0 < lower <= upper <= 1")


@dataclass(frozen=True)
class Candidate:
    """A scored pair: Splink's pairwise probability and match weight (log2 odds), the level
    each comparison reached, and, once decided, the candidate's share of the record."""

    person_key: str
    probability: float
    weight: float | None
    comparison: dict[str, Any]
    share: float = 0.0


@dataclass(frozen=True)
class Decision:
    """A reviewer's latest word on one pair (``person_key`` None: on the whole record)."""

    person_key: str | None
    decision: str  # match | no_match
    decided_at: datetime
    decision_id: int = 0  # orders decisions taken at the same moment


@dataclass(frozen=True)
class PriorLink:
    person_key: str
    method: str
    probability: float | None
    run_id: str


@dataclass(frozen=True)
class Link:
    source: str
    record_id: str
    person_key: str
    method: str  # probabilistic | review | minted
    probability: float | None
    run_id: str | None  # None: decided by this run
    minted: bool = False  # the key is the record's own, not a person in the spine


@dataclass(frozen=True)
class ReviewItem:
    source: str
    record_id: str
    rank: int
    candidate: Candidate
    reason: str


@dataclass
class Outcome:
    """Every record's link, the review items, and per record the model's probability that
    the record has a person in the spine at all (the sum of its candidates' shares)."""

    links: list[Link] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    matched: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass
class _Record:
    source: str
    record_id: str
    candidates: list[Candidate]
    link: Link | None = None
    sticky: bool = False
    review_reason: str | None = None


def decide(
    records: Iterable[tuple[str, str]],
    candidates: Iterable[tuple[str, str, Candidate]],
    *,
    thresholds: Thresholds,
    decisions: dict[tuple[str, str], list[Decision]],
    prior: dict[tuple[str, str], PriorLink],
    in_spine: Callable[[str], bool],
    one_to_one: set[str],
    mint: Callable[[str, str], str],
    model_ran: bool = True,
) -> Outcome:
    """Decide every record of the extract sources (see the module docstring).

    ``model_ran=False`` (no model could be trained this time) keeps earlier links without
    questioning them: no candidates then means no evidence, not disagreement.
    """
    by_record: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for source, record_id, candidate in candidates:
        by_record[(source, record_id)].append(candidate)
    states = []
    for source, record_id in records:
        state = _Record(source, record_id, by_record.get((source, record_id), []))
        rejected = _apply_decisions(state, decisions.get((source, record_id), []), mint)
        if state.link is None:
            _apply_prior(
                state,
                prior.get((source, record_id)),
                rejected,
                in_spine,
                thresholds,
                judge=model_ran,
            )
        if state.link is None and state.review_reason is None:
            _apply_model(state, thresholds)
        states.append(state)
    _enforce_one_to_one([s for s in states if s.source in one_to_one])

    outcome = Outcome()
    for state in states:
        outcome.links.append(
            state.link
            or Link(
                state.source,
                state.record_id,
                mint(state.source, state.record_id),
                "minted",
                None,
                None,
                minted=True,
            )
        )
        if state.review_reason:
            outcome.review.extend(_review_items(state, thresholds))
        outcome.matched[(state.source, state.record_id)] = sum(c.share for c in state.candidates)
    return outcome


def shares(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates with their share of the record filled in, best first (computed from the
    match weights in log space, so near-certain pairs do not overflow)."""
    if not candidates:
        return []
    weights = [
        max(
            -_WEIGHT_BOUND, min(_WEIGHT_BOUND, c.weight if c.weight is not None else -_WEIGHT_BOUND)
        )
        for c in candidates
    ]
    top = max(weights)
    scale = sum(2.0 ** (w - top) for w in weights) + 2.0 ** (-top)
    found = [
        replace(c, share=2.0 ** (w - top) / scale) for c, w in zip(candidates, weights, strict=True)
    ]
    return sorted(found, key=lambda c: (-c.share, c.person_key))


def _apply_decisions(
    state: _Record, decisions: list[Decision], mint: Callable[[str, str], str]
) -> set[str]:
    """Apply a reviewer's decisions; returns the persons the reviewer ruled out."""
    rejected = {d.person_key for d in decisions if d.decision == "no_match" and d.person_key}
    state.candidates = shares([c for c in state.candidates if c.person_key not in rejected])
    verdicts = [d for d in decisions if d.decision == "match" or d.person_key is None]
    if not verdicts:
        return rejected
    final = max(verdicts, key=lambda d: (d.decided_at, d.decision_id))
    if final.decision == "match" and final.person_key:
        share = next((c.share for c in state.candidates if c.person_key == final.person_key), None)
        state.link = Link(state.source, state.record_id, final.person_key, "review", share, None)
    else:  # the reviewer found nobody: the record keeps a key of its own, by decision
        state.link = Link(
            state.source,
            state.record_id,
            mint(state.source, state.record_id),
            "review",
            None,
            None,
            minted=True,
        )
    return rejected


def _apply_prior(
    state: _Record,
    prior: PriorLink | None,
    rejected: set[str],
    in_spine: Callable[[str], bool],
    thresholds: Thresholds,
    *,
    judge: bool,
) -> None:
    """Keep an earlier link to a person still in the spine; flag it if the model now differs."""
    if (
        prior is None
        or prior.method not in ("probabilistic", "review")
        or prior.person_key in rejected
        or not in_spine(prior.person_key)
    ):
        return
    state.link = Link(
        state.source,
        state.record_id,
        prior.person_key,
        prior.method,
        prior.probability,
        prior.run_id,
    )
    state.sticky = True
    best = state.candidates[0] if state.candidates else None
    agrees = (
        best is not None and best.person_key == prior.person_key and best.share >= thresholds.upper
    )
    if judge and prior.method == "probabilistic" and not agrees:
        state.review_reason = "today's model disagrees with the earlier link"


def _apply_model(state: _Record, thresholds: Thresholds) -> None:
    """Link a clear best candidate; review a record that is probably *someone* (its shares
    add up past the lower threshold) when it is not clear who."""
    best = state.candidates[0] if state.candidates else None
    if best is None:
        return
    if best.share >= thresholds.upper:
        state.link = Link(
            state.source, state.record_id, best.person_key, "probabilistic", best.share, None
        )
        return
    if sum(c.share for c in state.candidates) < thresholds.lower:
        return
    contested = len(state.candidates) > 1 and state.candidates[1].probability >= thresholds.lower
    state.review_reason = "more than one plausible person" if contested else "uncertain"


def _enforce_one_to_one(states: list[_Record]) -> None:
    claims: dict[tuple[str, str], list[_Record]] = defaultdict(list)
    for state in states:
        if state.link and not state.link.minted:
            claims[(state.source, state.link.person_key)].append(state)
    for claimants in claims.values():
        if len(claimants) < 2:
            continue
        keepers = [s for s in claimants if s.link and s.link.method == "review"]
        keepers = keepers or [s for s in claimants if s.sticky]
        for state in claimants:
            if not any(state is keeper for keeper in keepers):
                state.link = None
                state.sticky = False
                state.review_reason = "another record of this source claims the same person"


def _review_items(state: _Record, thresholds: Thresholds) -> list[ReviewItem]:
    """The candidates a reviewer should see: every plausible one, and the current link."""
    shown = [c for c in state.candidates if c.share >= thresholds.lower / 10]
    if (
        state.link
        and not state.link.minted
        and all(c.person_key != state.link.person_key for c in shown)
    ):
        shown.append(
            next(
                (c for c in state.candidates if c.person_key == state.link.person_key),
                Candidate(state.link.person_key, 0.0, None, {}),
            )
        )
    shown = shown[:MAX_REVIEW_CANDIDATES] or state.candidates[:1]
    return [
        ReviewItem(state.source, state.record_id, rank, c, state.review_reason or "")
        for rank, c in enumerate(shown, start=1)
    ]
