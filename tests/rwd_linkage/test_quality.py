"""Record-level precision, recall and F1."""

from __future__ import annotations

import pytest

from rwd_linkage.quality import true_counts


def test_counts_right_wrong_and_missed_links() -> None:
    truth = {"a": "P1", "b": "P2", "c": None, "d": "P4", "e": None}
    predicted = {"a": "P1", "b": "P9", "c": "P3", "d": None}
    counts = true_counts(predicted, truth)
    assert (counts.tp, counts.fp, counts.fn) == (1, 2, 2)  # b is both a wrong and a missed link
    assert counts.precision == pytest.approx(1 / 3)
    assert counts.recall == pytest.approx(1 / 3)
    assert counts.f1 == pytest.approx(1 / 3)


def test_nothing_to_find_is_perfect() -> None:
    counts = true_counts({}, {"x": None})
    assert (counts.precision, counts.recall) == (1.0, 1.0)
