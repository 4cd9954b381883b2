"""End to end on synthetic national data, through the CLI: true F1 against the generator's
ground truth, uncertain pairs in the review queue (never auto-linked), the model saved, and
the quality report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medfollow.cli.linkage import app
from medfollow_core.errors import MedfollowError
from medfollow_core.pseudonymise import load_key
from support.linkage import ingest, links, rows, synth_deliveries
from synthetic_deliveries import SynthResult

CROSSBORDER = "outcomes_crossborder__patients"
LEGACY = "biobank__legacy"
runner = CliRunner()


@pytest.fixture(scope="module")
def linked(db_url: str, synth_large: SynthResult) -> Iterator[str]:
    """The warehouse after ingesting the synthetic deliveries and `linkage run`."""
    ingest(db_url, load_key(), synth_deliveries(synth_large))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDFOLLOW_DATABASE_URL", db_url)
        result = runner.invoke(app, ["run", "--ground-truth", str(synth_large.ground_truth)])
        assert result.exit_code == 0, result.output
        yield result.output


def quality(url: str) -> dict[tuple[str, str], float]:
    return {
        (s, m): v
        for s, m, v in rows(
            url,
            """
        select source, metric, value from linkage.quality
         where run_id = (select run_id from linkage.runs order by started_at desc limit 1)""",
        )
    }


def test_true_f1_on_records_without_cpr(db_url: str, linked: str) -> None:
    figures = quality(db_url)
    assert figures[(CROSSBORDER, "records")] >= 40
    assert figures[(CROSSBORDER, "true_f1")] >= 0.98
    assert figures[(LEGACY, "true_f1")] >= 0.98
    assert figures[(CROSSBORDER, "false_links")] == 0
    assert figures[(CROSSBORDER, "estimated_precision")] >= 0.95


def test_every_record_resolves_to_one_key(
    db_url: str, linked: str, synth_large: SynthResult
) -> None:
    found = links(db_url, CROSSBORDER)
    patients = rows(db_url, f"select foreign_patient_id from raw.{CROSSBORDER}")
    assert {(CROSSBORDER, r[0]) for r in patients} == set(found)
    minted = [row for row in found.values() if row["method"] == "minted"]
    assert minted  # about one patient in ten is not in the Danish register
    assert len({row["person_key"] for row in found.values()}) == len(found)  # one-to-one


def test_uncertain_pairs_are_queued_not_linked(db_url: str, linked: str) -> None:
    auto = rows(
        db_url,
        "select min(match_probability) from linkage.person_links where method = 'probabilistic'",
    )
    assert auto[0][0] >= 0.95
    queued = rows(
        db_url,
        "select q.source, q.record_id, p.method, q.comparison "
        "from linkage.review_queue q join linkage.person_links p using (source, record_id)",
    )
    for _, _, method, comparison in queued:
        assert method == "minted"  # waiting for a human, not linked
        assert set(comparison) == {"first_name", "surname", "dob", "sex", "residence"}


def test_model_is_saved_with_the_run(db_url: str, linked: str) -> None:
    ((path, model, sources),) = rows(db_url, "select path, model, sources from linkage.models")
    assert set(sources) == {CROSSBORDER, LEGACY}
    assert json.loads(Path(path).read_text(encoding="utf-8")) == model
    dob = next(c for c in model["comparisons"] if c["output_column_name"] == "dob")
    exact = next(lv for lv in dob["comparison_levels"] if lv.get("label_for_charts") == "exact")
    assert exact["m_probability"] > 0.8 and exact["u_probability"] < 0.01  # learnt, not hand-set


def test_report_prints_quality(db_url: str, linked: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", db_url)
    result = runner.invoke(app, ["report"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert CROSSBORDER in result.output and "true_f1" in result.output
    assert "true_f1" in linked  # `run` prints the same table


def test_review_lists_the_queue(db_url: str, linked: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDFOLLOW_DATABASE_URL", db_url)
    result = runner.invoke(app, ["review"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "linkage.review_queue" in result.output


def test_thresholds_are_checked_before_anything_runs() -> None:
    result = runner.invoke(app, ["run", "--upper", "0.3", "--lower", "0.6"])
    assert isinstance(result.exception, MedfollowError)
    assert "lower <= upper" in str(result.exception)
