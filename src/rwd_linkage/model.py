"""Train a Fellegi–Sunter model with Splink (DuckDB backend) and score candidate pairs.

Shared by the warehouse linkage and the general ``link`` command. Everything the model
knows comes from the data being linked:

* u (how often a level occurs between *different* people) by random sampling of pairs;
* m (how often it occurs between the *same* person) by expectation maximisation, one pass
  per training rule, each pass learning the comparisons its rule does not fix;
* the prior (how likely two random records match) from the EM passes that learn it,
  scaled back from the blocked pairs to all pairs.

The trained model is returned as Splink's JSON so that every run can store exactly what
decided its links.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.exceptions import EMTrainingException

from medfollow_core.errors import MedfollowError

# Splink's own progress chatter would go to the root logger; the CLI draws its own bars.
logging.getLogger("splink").setLevel(logging.ERROR)

U_MAX_PAIRS = 5e6
SEED = 20240601


@dataclass(frozen=True)
class TrainingPass:
    """One EM pass. ``learn_prior``: the pass also estimates the prior (the probability that
    two random records match); otherwise the prior is held at its current value during the
    pass, so EM cannot explain away what it does not understand by inventing matches."""

    rule: BlockingRuleCreator | str
    learn_prior: bool = True


@dataclass
class Model:
    """A trained linker over two registered tables, ``left`` and ``right``."""

    linker: Linker
    comparisons: list[str]
    left: str
    right: str

    def to_json(self) -> dict[str, Any]:
        """The trained model as Splink settings JSON (m, u and the prior included)."""
        return self.linker.misc.save_model_to_json()

    def level_labels(self) -> dict[str, dict[int, str]]:
        """comparison → gamma value → human-readable label, for the review queue."""
        labels: dict[str, dict[int, str]] = {}
        for comparison in self.to_json()["comparisons"]:
            levels = comparison["comparison_levels"]
            top = len([lv for lv in levels if not lv.get("is_null_level")]) - 1
            by_gamma = {-1: "missing"}
            for i, level in enumerate(lv for lv in levels if not lv.get("is_null_level")):
                by_gamma[top - i] = str(level.get("label_for_charts", top - i))
            labels[comparison["output_column_name"]] = by_gamma
        return labels


def train(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str,
    *,
    comparisons: Sequence[ComparisonCreator],
    blocking_rules: Sequence[BlockingRuleCreator | str],
    training: Sequence[TrainingPass],
    u_max_pairs: float = U_MAX_PAIRS,
    em_max_pairs: float | None = None,
    seed: int = SEED,
) -> Model:
    """Train a link-only model between DuckDB tables ``left`` and ``right`` on ``con``."""
    db_api = DuckDBAPI(con)
    tables = [
        db_api.register(left, dataset_display_name=left),
        db_api.register(right, dataset_display_name=right),
    ]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=list(comparisons),
        # a SQL string becomes a CustomRule here rather than inside splink: same rule, typed
        blocking_rules_to_generate_predictions=[
            to_blocking_rule_creator(r) for r in blocking_rules
        ],
        retain_matching_columns=True,  # needed for gamma columns; only ids and gammas leave DuckDB
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(tables, settings, log_level=None)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for step in training:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                step.rule,
                max_pairs=em_max_pairs,
                fix_probability_two_random_records_match=not step.learn_prior,
                populate_probability_two_random_records_match_from_trained_values=step.learn_prior,
            )
        except EMTrainingException:
            continue  # no pairs agree on this rule; the other passes may still train
    trained = linker.misc.save_model_to_json()
    untrained = [
        c["output_column_name"]
        for c in trained["comparisons"]
        if not any("m_probability" in level for level in c["comparison_levels"])
    ]
    if untrained:
        raise MedfollowError(
            f"too few records to estimate the linkage model: no EM pass could "
            f"learn {', '.join(untrained)} (too few pairs agree on the other fields)"
        )
    if _smooth_unseen_levels(trained, _smaller_side(con, left, right)):
        linker = Linker(tables, trained, log_level=None)
    names = [c["output_column_name"] for c in trained["comparisons"]]
    return Model(linker=linker, comparisons=names, left=left, right=right)


def _smaller_side(con: duckdb.DuckDBPyConnection, left: str, right: str) -> int:
    """At most this many true matches exist between the two tables."""
    return min(
        int(con.execute(f"select count(*) from {t}").fetchall()[0][0]) for t in (left, right)
    )


def _smooth_unseen_levels(model: dict[str, Any], matches: int) -> bool:
    """Give levels that occur in the data (they have a u) but that EM never saw among its
    matches an m of 0.5 / (matches + levels / 2), and scale the comparison's other m values
    down to make room. Returns whether anything changed.

    Splink would otherwise use fixed default m values there, which is hand-setting by
    omission; and zero would veto every future pair at that level (one swapped birth date
    in the next delivery). Half a pseudo-observation per level (the Jeffreys prior) says
    "rarer than anything seen among this many matches" and fades as data grows.
    """
    changed = False
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        unseen = [lv for lv in levels if "m_probability" not in lv and "u_probability" in lv]
        if not unseen:
            continue
        m = 0.5 / (max(matches, 1) + len(levels) / 2)
        scale = 1 - m * len(unseen)
        for level in levels:
            if "m_probability" in level:
                level["m_probability"] *= scale
        for level in unseen:
            level["m_probability"] = m
        changed = True
    return changed


def score(model: Model, *, threshold: float) -> pa.Table:
    """Scored candidate pairs at or above ``threshold``: left id, right id, probability,
    weight and one gamma column per comparison (the level each pair reached)."""
    predictions = model.linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    gammas = ", ".join(f'"gamma_{c}"' for c in model.comparisons)
    flipped = {"l": "r", "r": "l"}
    parts = []
    for side in ("l", "r"):
        other = flipped[side]
        parts.append(
            f"select unique_id_{side} as left_id, unique_id_{other} as right_id, "
            f"match_probability, match_weight, {gammas} "
            f"from {predictions.physical_name} where source_dataset_{side} = '{model.left}'"
        )
    table = model.linker._db_api.duckdb_con.sql(" union all ".join(parts)).to_arrow_table()
    predictions.drop_table_from_database_and_remove_from_cache()
    return table
