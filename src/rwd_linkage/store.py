"""The linkage tables as a run sees them: what earlier runs and reviewers left behind, and
what this run stages for publishing (links, minted keys, review items, model, quality).

Reads resolve person keys through the ``succession`` temp table, so an earlier link or a
decision made before a CPR number changed still names the person it meant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from psycopg.types.json import Jsonb

from rwd_linkage import warehouse
from rwd_linkage.decide import Decision, Outcome, PriorLink


def decisions(
    conn: psycopg.Connection, sources: list[str]
) -> dict[tuple[str, str], list[Decision]]:
    """The latest decision per (record, person)."""
    rows = conn.execute(
        """
        select distinct on (d.source, d.record_id, coalesce(s.current_key, d.person_key))
               d.source, d.record_id, coalesce(s.current_key, d.person_key), d.decision,
               d.decided_at, d.decision_id
          from linkage.review_decisions d left join succession s on s.old_key = d.person_key
         where d.source = any(%s)
         order by d.source, d.record_id, coalesce(s.current_key, d.person_key),
                  d.decided_at desc, d.decision_id desc
    """,
        (sources,),
    ).fetchall()
    found: dict[tuple[str, str], list[Decision]] = {}
    for source, record_id, person_key, decision, decided_at, decision_id in rows:
        found.setdefault((source, record_id), []).append(
            Decision(person_key, decision, decided_at, decision_id)
        )
    return found


def prior_links(conn: psycopg.Connection, sources: list[str]) -> dict[tuple[str, str], PriorLink]:
    """The current links of these sources, as the previous run left them."""
    rows = conn.execute(
        """
        select p.source, p.record_id, coalesce(s.current_key, p.person_key), p.method,
               p.match_probability, p.run_id
          from linkage.person_links p left join succession s on s.old_key = p.person_key
         where p.source = any(%s)
    """,
        (sources,),
    ).fetchall()
    return {(src, rid): PriorLink(pk, method, p, run) for src, rid, pk, method, p, run in rows}


def stage_outcome(conn: psycopg.Connection, run_id: str, outcome: Outcome) -> None:
    """Copy the decided links, minted keys and review items into the run's temp tables."""
    links = outcome.links
    warehouse.write_arrow(
        conn,
        "new_links",
        pa.table(
            {
                "source": pa.array([lk.source for lk in links], pa.string()),
                "record_id": pa.array([lk.record_id for lk in links], pa.string()),
                "person_key": pa.array([lk.person_key for lk in links], pa.string()),
                "method": pa.array([lk.method for lk in links], pa.string()),
                "match_probability": pa.array([lk.probability for lk in links], pa.float64()),
                "run_id": pa.array([lk.run_id or run_id for lk in links], pa.string()),
            }
        ),
    )
    minted = [lk for lk in links if lk.minted]
    warehouse.write_arrow(
        conn,
        "new_minted",
        pa.table(
            {
                "person_key": pa.array([lk.person_key for lk in minted], pa.string()),
                "source": pa.array([lk.source for lk in minted], pa.string()),
                "record_id": pa.array([lk.record_id for lk in minted], pa.string()),
            }
        ),
    )
    items = outcome.review
    warehouse.write_arrow(
        conn,
        "new_review",
        pa.table(
            {
                "source": pa.array([i.source for i in items], pa.string()),
                "record_id": pa.array([i.record_id for i in items], pa.string()),
                "candidate_person_key": pa.array(
                    [i.candidate.person_key for i in items], pa.string()
                ),
                "candidate_rank": pa.array([i.rank for i in items], pa.int32()),
                "share": pa.array([i.candidate.share for i in items], pa.float64()),
                "match_probability": pa.array(
                    [i.candidate.probability for i in items], pa.float64()
                ),
                "match_weight": pa.array([i.candidate.weight for i in items], pa.float64()),
                "reason": pa.array([i.reason for i in items], pa.string()),
                "comparison": pa.array(
                    [json.dumps(i.candidate.comparison, sort_keys=True) for i in items], pa.string()
                ),
                "run_id": pa.array([run_id] * len(items), pa.string()),
            }
        ),
    )


def save_model(
    conn: psycopg.Connection,
    run_id: str,
    name: str,
    model: dict[str, Any],
    sources: list[str],
    folder: Path,
) -> Path:
    """The trained model beside the run: a JSON file in ``folder`` and a linkage.models row."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.json"
    path.write_text(json.dumps(model, indent=2, sort_keys=True), encoding="utf-8")
    conn.execute(
        "insert into linkage.models (run_id, model_name, sources, model, path) "
        "values (%s, %s, %s, %s, %s)",
        (run_id, name, sources, Jsonb(model), str(path)),
    )
    return path


def store_quality(
    conn: psycopg.Connection, run_id: str, metrics: dict[str, dict[str, float]]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "insert into linkage.quality (run_id, source, metric, value) values (%s, %s, %s, %s)",
            [
                (run_id, source, name, value)
                for source, figures in metrics.items()
                for name, value in figures.items()
            ],
        )
