"""Score records without CPR against the spine: prepare, train, predict, in DuckDB.

All sources without CPR are pooled into one model. They describe people with the same
fields, and pooling gives EM enough true matches to learn from even when one extract
(say, this quarter's cross-border patients) holds a few dozen records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from rwd_linkage import model, persons
from rwd_linkage.decide import Candidate
from rwd_linkage.persons import Demographics
from rwd_linkage.prepare import literal

StepCallback = Callable[[str], None]
"""Announces each stage of scoring by name."""

CANDIDATE_FLOOR = 0.001  # pairs below this are not worth keeping even for the estimates
MAX_CANDIDATES = 5
EM_MAX_PAIRS = 2e6  # EM learns as well from a sample of a national spine's blocked pairs


@dataclass
class Scored:
    """Each record's best candidates as (source, record_id, candidate), and the trained
    model behind them."""

    candidates: list[tuple[str, str, Candidate]]
    model_json: dict[str, Any]


def score_extracts(
    spine: pa.Table,
    extracts: Mapping[str, tuple[Demographics, pa.Table]],
    *,
    progress: StepCallback | None = None,
) -> Scored:
    """Link every extract record (source → (columns, raw rows)) against ``spine`` (raw
    CPR-register rows) and return each record's best candidates."""
    step = progress or (lambda _label: None)
    con = duckdb.connect()
    try:
        step("preparing records")
        con.register("spine_raw", spine)
        con.execute("create table spine as " + persons.prepared_select(persons.SPINE, "spine_raw"))
        parts, ids = [], []
        for i, (source, (demographics, rows)) in enumerate(extracts.items()):
            raw = f"extract_raw_{i}"
            con.register(raw, rows)
            select = persons.prepared_select(demographics, raw)
            # Record ids are only unique within a source: the pooled id carries the source.
            parts.append(f"select * replace ('{i}:' || unique_id as unique_id) from ({select})")
            ids.append(
                f"select '{i}:' || cast({demographics.record_id} as varchar) as unique_id, "
                f"{literal(source)} as source, "
                f"cast({demographics.record_id} as varchar) as record_id from {raw}"
            )
        con.execute("create table extract as " + " union all ".join(parts))
        con.execute("create table extract_ids as " + " union all ".join(ids))
        persons.mark_unique_name_places(con, "spine", "extract")

        step("training the model (u by sampling, m by EM)")
        trained = model.train(
            con,
            "extract",
            "spine",
            comparisons=persons.comparison_list(),
            blocking_rules=persons.blocking_rules(),
            training=persons.training_passes(),
            em_max_pairs=EM_MAX_PAIRS,
        )
        step("scoring candidate pairs")
        pairs = model.score(trained, threshold=CANDIDATE_FLOOR)
        labels = trained.level_labels()
        model_json = trained.to_json()
        con.register("pairs", pairs)
        gammas = [f"gamma_{c}" for c in trained.comparisons]
        rows = con.execute(f"""
            select i.source, i.record_id, p.right_id, p.match_probability, p.match_weight,
                   {", ".join(f'p."{g}"' for g in gammas)}
              from pairs p join extract_ids i on i.unique_id = p.left_id
            qualify row_number() over (partition by p.left_id
                                       order by p.match_probability desc, p.right_id) <= {MAX_CANDIDATES}
        """).fetchall()
    finally:
        con.close()
    candidates = []
    for source, record_id, person_key, probability, weight, *levels in rows:
        comparison = {
            name: {"gamma": int(g), "level": labels[name].get(int(g), str(g))}
            for name, g in zip(trained.comparisons, levels, strict=True)
        }
        candidates.append(
            (
                source,
                record_id,
                Candidate(person_key, float(probability), float(weight), comparison),
            )
        )
    return Scored(candidates=candidates, model_json=model_json)
