"""One linkage run over the warehouse: every record of every source gets its person_key.

The run reads the raw tables, decides, and publishes links, review queue, key history,
model and quality in a single transaction: researchers see the previous run's links or
this run's, never a mixture. The run's row in ``linkage.runs`` is created outside that
transaction, so that a failed run still leaves a row saying it failed, and turns
"finished" inside it, together with the links it describes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
from psycopg import sql

from medfollow_core import config
from medfollow_core.errors import MedfollowError
from medfollow_core.types import Progress
from medfollow_core.warehouse import catalog
from rwd_linkage import deterministic, keys, quality, store, warehouse
from rwd_linkage.decide import Outcome, Thresholds, decide
from rwd_linkage.persons import SPINE
from rwd_linkage.probabilistic import Scored, score_extracts
from rwd_linkage.sources import EXTRACTS, SPINE_TABLE, ExtractSource, cpr_sources

MODEL_NAME = "persons"


@dataclass
class RunResult:
    run_id: str
    spine_persons: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    key_changes: dict[str, int] = field(default_factory=dict)
    model_path: Path | None = None
    note: str | None = None  # why records without CPR were not linked, if they were not


class _Steps:
    """Numbered progress through a run's stages for a (label, done, total) callback."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self._total, self._done = progress, total, 0

    def __call__(self, label: str) -> None:
        self._done = min(self._done + 1, self._total)
        if self._progress:
            self._progress(label, self._done, self._total)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def run_linkage(
    url: str,
    key: bytes,
    *,
    thresholds: Thresholds | None = None,
    ground_truth: Path | None = None,
    progress: Progress | None = None,
    state_dir: Path | None = None,
) -> RunResult:
    """Link every source in the warehouse at ``url``; ``ground_truth`` (a synthetic
    generator's folder) adds true precision/recall/F1 to the quality report."""
    thresholds = thresholds or Thresholds()
    truth = quality.load_truth(ground_truth, key) if ground_truth else None
    run_id = new_run_id()
    with psycopg.connect(url, autocommit=True) as control:
        warehouse.require_schema(control)
        control.execute(
            "insert into linkage.runs (run_id, status, upper_threshold, lower_threshold) "
            "values (%s, 'running', %s, %s)",
            (run_id, thresholds.upper, thresholds.lower),
        )
        try:
            result = _run(url, key, run_id, thresholds, truth, progress, state_dir)
        except BaseException as exc:
            message = str(exc) if isinstance(exc, MedfollowError) else type(exc).__name__
            control.execute(
                "update linkage.runs set status = 'failed', finished_at = now(), "
                "message = %s where run_id = %s",
                (message, run_id),
            )
            raise
    return result


def _run(
    url: str,
    key: bytes,
    run_id: str,
    thresholds: Thresholds,
    truth: dict[str, dict[str, str | None]] | None,
    progress: Progress | None,
    state_dir: Path | None,
) -> RunResult:
    cpr = cpr_sources()
    step = _Steps(progress, len(cpr) + 8)
    with psycopg.connect(url) as conn:
        warehouse.lock_runs(conn)
        deterministic.stage_succession(conn)
        keys.stage_tables(conn)
        step("CPR changes")
        for source in cpr:
            if catalog.table_exists(conn, f"raw.{source.table}"):
                deterministic.stage_links(conn, source, run_id)
            step(f"deterministic: {source.name}")

        spine = _read_spine(conn)
        extracts = _read_extracts(conn)
        step("read spine and extracts")
        scored, note = _score(spine, extracts, step)
        outcome = _decide(conn, key, thresholds, spine, extracts, scored)
        step("decided")
        store.stage_outcome(conn, run_id, outcome)
        model_path = (
            store.save_model(
                conn,
                run_id,
                MODEL_NAME,
                scored.model_json,
                list(extracts),
                (state_dir or config.state_dir()) / "linkage" / "models",
            )
            if scored
            else None
        )
        changes = keys.publish(conn, run_id)
        step("published links")

        metrics = {
            name: quality.extract_metrics(name, outcome, truth.get(name) if truth else None)
            for name in extracts
        }
        metrics.update(deterministic.metrics(conn))
        metrics["all"] = quality.summary(metrics)
        metrics["all"].update({f"key_changes_{event}": float(n) for event, n in changes.items()})
        store.store_quality(conn, run_id, metrics)
        conn.execute(
            "update linkage.runs set status = 'finished', finished_at = now(), "
            "spine_persons = %s, message = %s where run_id = %s",
            (spine.num_rows, note, run_id),
        )
        step("quality")
    return RunResult(run_id, spine.num_rows, metrics, changes, model_path, note)


def _read_spine(conn: psycopg.Connection) -> pa.Table:
    columns = SPINE.columns()
    if not catalog.table_exists(conn, f"raw.{SPINE_TABLE}"):
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return warehouse.read_arrow(
        conn,
        sql.SQL(
            "select distinct on (person_key) {cols} from {t} where person_key is not null "
            "order by person_key, _loaded_at desc"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            t=sql.Identifier("raw", SPINE_TABLE),
        ),
    )


def _read_extracts(conn: psycopg.Connection) -> dict[str, tuple[ExtractSource, pa.Table]]:
    """Each present extract's row per record id: its key (the loader quarantines a record
    sent again), or the latest loaded where rows were put into raw by hand."""
    found = {}
    for source in EXTRACTS:
        if not catalog.table_exists(conn, f"raw.{source.table}"):
            continue
        present = catalog.columns_of(conn, "raw", source.table)
        columns = source.demographics.columns()
        missing = [c for c in columns if c not in present]
        if missing:
            raise MedfollowError(f"raw.{source.table} lacks {', '.join(missing)}")
        rid = sql.Identifier(source.demographics.record_id)
        rows = warehouse.read_arrow(
            conn,
            sql.SQL(
                "select distinct on ({rid}) {cols} from {t} where {rid} is not null "
                "order by {rid}, _loaded_at desc"
            ).format(
                rid=rid,
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                t=sql.Identifier("raw", source.table),
            ),
        )
        found[source.name] = (source, rows)
    return found


def _score(
    spine: pa.Table,
    extracts: dict[str, tuple[ExtractSource, pa.Table]],
    step: Callable[[str], None],
) -> tuple[Scored | None, str | None]:
    """Score the extracts; None (and why) when there is nothing to link or too little to
    learn from. Records without CPR then keep minted keys until a later run can link them,
    and the CPR sources are linked regardless."""
    with_rows = {
        name: (source.demographics, rows)
        for name, (source, rows) in extracts.items()
        if rows.num_rows
    }
    if with_rows and spine.num_rows:
        try:
            return score_extracts(spine, with_rows, progress=step), None
        except MedfollowError as exc:
            return None, str(exc)
    for label in ("prepare", "train", "score"):
        step(f"{label}: nothing to link")
    return None, None


def _decide(
    conn: psycopg.Connection,
    key: bytes,
    thresholds: Thresholds,
    spine: pa.Table,
    extracts: dict[str, tuple[ExtractSource, pa.Table]],
    scored: Scored | None,
) -> Outcome:
    names = list(extracts)
    records = [
        (name, rid)
        for name, (source, rows) in extracts.items()
        for rid in rows[source.demographics.record_id].to_pylist()
    ]
    spine_keys = set(spine["person_key"].to_pylist())
    return decide(
        records,
        scored.candidates if scored else [],
        thresholds=thresholds,
        decisions=store.decisions(conn, names),
        prior=store.prior_links(conn, names),
        in_spine=spine_keys.__contains__,
        one_to_one={name for name, (source, _) in extracts.items() if source.one_to_one},
        mint=keys.Minter(key),
        model_ran=scored is not None,
    )
