"""How good were a run's links? Estimated from the model always, measured against the
synthetic generator's answer key when there is one.

Model estimates, per source without CPR:

* precision — the mean probability of the automatic links (the expected share of them
  that are right);
* recall — the expected true matches that were linked (the sum of their probabilities)
  over the expected true matches overall (the sum over records of the probability that the
  record has a person in the spine).

True figures compare each record's link with the person the generator says it belongs to.
The answer key holds real (synthetic) CPR numbers; they are pseudonymised with the run's key
on reading and never leave this module. Records awaiting review count as not linked; the
``*_if_reviewed`` figures assume a reviewer picks the true candidate when it is listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import Pseudonymiser
from rwd_linkage.decide import Outcome

# Where the synthetic generator writes the true person behind each record without CPR.
GROUND_TRUTH: dict[str, tuple[str, str]] = {
    "outcomes_crossborder__patients": ("crossborder_links.parquet", "foreign_patient_id"),
    "biobank__legacy": ("biobank_legacy_links.parquet", "legacy_sample_id"),
}


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_truth(directory: Path, key: bytes) -> dict[str, dict[str, str | None]]:
    """source → record_id → true person_key (None: the person is not in the spine)."""
    persons_file = directory / "persons.parquet"
    if not persons_file.exists():
        raise MedfollowError(f"no persons.parquet in {directory} (not a ground-truth folder?)")
    persons = pq.read_table(persons_file, columns=["person_id", "cpr"])
    pseudonymiser = Pseudonymiser(key)
    truth: dict[str, dict[str, str | None]] = {}
    for source, (file, id_column) in GROUND_TRUTH.items():
        path = directory / file
        if not path.exists():
            continue
        links = pq.read_table(path, columns=[id_column, "person_id"])
        wanted = pc.drop_null(links["person_id"])
        rows = persons.filter(pc.is_in(persons["person_id"], value_set=pc.unique(wanted)))
        key_of = {
            pid: pseudonymiser.one(cpr.replace("-", ""))
            for pid, cpr in zip(rows["person_id"].to_pylist(), rows["cpr"].to_pylist(), strict=True)
        }
        truth[source] = {
            str(rid): key_of.get(pid) if pid is not None else None
            for rid, pid in zip(
                links[id_column].to_pylist(), links["person_id"].to_pylist(), strict=True
            )
        }
    return truth


def true_counts(predicted: Mapping[str, str | None], truth: Mapping[str, str | None]) -> Counts:
    """Record-level confusion: a link is right when it names the true person."""
    tp = fp = fn = 0
    for record_id, true_key in truth.items():
        guess = predicted.get(record_id)
        if guess is not None and guess == true_key:
            tp += 1
            continue
        fp += guess is not None
        fn += true_key is not None
    return Counts(tp, fp, fn)


def extract_metrics(
    source: str, outcome: Outcome, truth: Mapping[str, str | None] | None
) -> dict[str, float]:
    """Quality figures for one source without CPR."""
    mine = [lk for lk in outcome.links if lk.source == source]
    linked = {lk.record_id: lk for lk in mine if not lk.minted}
    auto = [lk for lk in mine if lk.method == "probabilistic"]
    queued: dict[str, list[str]] = {}
    for item in outcome.review:
        if item.source == source:
            queued.setdefault(item.record_id, []).append(item.candidate.person_key)
    expected = sum(p for (src, _), p in outcome.matched.items() if src == source)
    found = sum(lk.probability or 0.0 for lk in auto)
    metrics = {
        "records": float(len(mine)),
        "linked": float(len(linked)),
        "linked_automatically": float(len(auto)),
        "linked_by_review": float(sum(lk.method == "review" for lk in linked.values())),
        "minted": float(sum(lk.minted for lk in mine)),
        "review_queue_records": float(len(queued)),
        "link_rate": len(linked) / len(mine) if mine else 0.0,
        "estimated_precision": found / len(auto) if auto else 1.0,
        "estimated_recall": min(1.0, found / expected) if expected else 1.0,
    }
    if truth is not None:
        predicted = {r: lk.person_key for r, lk in linked.items()}
        counts = true_counts(predicted, truth)
        reviewed: dict[str, str | None] = dict(predicted)
        for record_id, keys in queued.items():
            true_key = truth.get(record_id)
            reviewed[record_id] = true_key if true_key in keys else predicted.get(record_id)
        after = true_counts(reviewed, truth)
        metrics.update(
            {
                "true_precision": counts.precision,
                "true_recall": counts.recall,
                "true_f1": counts.f1,
                "true_links": float(counts.tp),
                "false_links": float(counts.fp),
                "missed_links": float(counts.fn),
                "true_f1_if_reviewed": after.f1,
            }
        )
    return metrics


def summary(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Run-wide totals over the per-source figures (counts add up; rates are recomputed)."""
    total: dict[str, float] = {}
    for figures in metrics.values():
        for name in ("records", "linked", "review_queue_records", "minted"):
            total[name] = total.get(name, 0.0) + figures.get(name, 0.0)
    total["link_rate"] = total["linked"] / total["records"] if total.get("records") else 0.0
    return total
