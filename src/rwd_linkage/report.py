"""Read a run's quality back from ``linkage.runs`` and ``linkage.quality`` for printing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from medfollow_core.errors import MedfollowError
from rwd_linkage import warehouse

# Figures shown for sources without CPR (one column per source) and with CPR (one row each).
EXTRACT_METRICS = (
    "records",
    "linked",
    "link_rate",
    "linked_automatically",
    "linked_by_review",
    "review_queue_records",
    "minted",
    "estimated_precision",
    "estimated_recall",
    "true_precision",
    "true_recall",
    "true_f1",
    "true_f1_if_reviewed",
)
CPR_METRICS = ("records", "cpr_changes_resolved", "outside_spine")


@dataclass(frozen=True)
class RunReport:
    run: dict[str, Any]
    quality: dict[str, dict[str, float]]  # source -> metric -> value

    def extract_table(self) -> tuple[list[str], list[list[str]]]:
        """Metrics down, sources without CPR across (narrow enough for a terminal)."""
        sources = sorted(s for s, q in self.quality.items() if "estimated_precision" in q)
        rows = [
            [m, *(_format(m, self.quality[s].get(m)) for s in sources)]
            for m in EXTRACT_METRICS
            if any(m in self.quality[s] for s in sources)
        ]
        return ["metric", *sources], rows

    def cpr_table(self) -> tuple[list[str], list[list[str]]]:
        """One row per source with CPR."""
        sources = sorted(s for s, q in self.quality.items() if "cpr_changes_resolved" in q)
        return ["source", *CPR_METRICS], [
            [s, *(_format(m, self.quality[s].get(m)) for m in CPR_METRICS)] for s in sources
        ]

    def totals(self) -> dict[str, float]:
        return self.quality.get("all", {})


def load(conn: psycopg.Connection, run_id: str | None = None) -> RunReport:
    """The given run, or the latest finished one."""
    warehouse.require_schema(conn)
    cur = conn.execute(
        """
        select run_id, status, started_at, finished_at, upper_threshold, lower_threshold,
               spine_persons, message
          from linkage.runs
         where (%(run)s::text is null and status = 'finished') or run_id = %(run)s
         order by started_at desc limit 1
    """,
        {"run": run_id},
    )
    row = cur.fetchone()
    if row is None:
        raise MedfollowError(
            f"no linkage run {run_id!r}"
            if run_id
            else "no finished linkage run yet (medfollow linkage run)"
        )
    run = dict(zip([d.name for d in cur.description or ()], row, strict=True))
    quality: dict[str, dict[str, float]] = {}
    for source, metric, value in conn.execute(
        "select source, metric, value from linkage.quality where run_id = %s", (run["run_id"],)
    ).fetchall():
        quality.setdefault(source, {})[metric] = value
    return RunReport(run, quality)


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    if metric.startswith(("estimated_", "true_")) or metric == "link_rate":
        return f"{value:.4f}"
    return f"{value:,.0f}"
