"""Ingest one delivery: check, read, type, validate, pseudonymise and load — or refuse.

This is the single code path behind the Airflow ingest tasks and ``medfollow ingest``.
File-level problems (no manifest, checksum mismatch, missing columns, wrong encoding,
truncated file) refuse the whole delivery and leave the warehouse exactly as it was.
Row-level problems — values that cannot be typed, invalid CPR numbers, and whatever the
source's Great Expectations suite flags — send the row to ``quarantine.<source>__<table>``
with a reason; the rest loads. Everything the delivery changes becomes visible in one transaction, together with its
``audit.deliveries`` status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from medfollow_core import config
from medfollow_core.errors import MedfollowError, scrub
from medfollow_core.landing import audit
from medfollow_core.landing.contracts import SourceContract, Table, contract_for
from medfollow_core.landing.manifest import MANIFEST_NAME, Manifest, sha256_of
from medfollow_core.pseudonymise import Pseudonymiser
from medfollow_core.types import Progress
from medfollow_core.warehouse.catalog import table_exists
from medfollow_core.warehouse.copy import copy_table
from registry_ingest import read
from registry_ingest.convert import convert_batch
from registry_ingest.load import ensure_tables, quarantine_name, raw_name
from registry_ingest.prefetch import prefetch
from registry_ingest.validate import DeliveryValidator

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,120}")


@dataclass
class DeliveryOutcome:
    source: str
    delivery_id: str
    status: str  # loaded | refused | skipped
    reason: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    mod11_warnings: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    data_docs: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "skipped")

    def summary(self) -> str:
        if self.status == "refused":
            return f"{self.source}/{self.delivery_id}: refused — {self.reason}"
        if self.status == "skipped":
            return f"{self.source}/{self.delivery_id}: skipped — {self.reason}"
        return (
            f"{self.source}/{self.delivery_id}: loaded {self.rows_loaded:,} rows, "
            f"quarantined {self.rows_quarantined:,}"
        )


def ingest_delivery(
    delivery_dir: Path,
    *,
    url: str,
    key: bytes,
    source: str | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
    gx_dir: Path | None = None,
) -> DeliveryOutcome:
    """Load one delivery folder; never raises for a bad delivery (it returns 'refused')."""
    delivery_dir = delivery_dir.resolve()
    manifest, manifest_sha, refusal = _read_manifest(delivery_dir)
    delivery_id = manifest.delivery_id if manifest else delivery_dir.name
    source = source or (manifest.source if manifest else delivery_dir.parent.name)
    contract = contract_for(source)
    if manifest and manifest.source != source:
        refusal = f"manifest is for source {manifest.source!r}, not {source!r}"
    if not _SAFE_ID.fullmatch(delivery_id):
        # the id names folders (validation results) and audit rows: no paths, no surprises
        refusal, delivery_id = (
            "delivery id may only hold letters, digits, '.', '_' and '-'",
            "invalid-id",
        )
    cutoff = manifest.cutoff_date if manifest else None

    with psycopg.connect(url, autocommit=True) as control:
        if not audit.lock_delivery(control, source, delivery_id):
            raise MedfollowError(f"{source}/{delivery_id} is being loaded by another process")
        audit.close_interrupted(control, source, delivery_id)
        skip = "already loaded" if audit.already_loaded(control, source, delivery_id) else None
        if skip is None and refusal is None and contract.mode == "snapshot" and cutoff is not None:
            latest = audit.latest_loaded_cutoff(control, source)
            if latest is not None and cutoff < latest:
                # A snapshot replaces the table, so an older one must never roll the register
                # back; a backlog loaded in any order (or an old one re-sent) ends the same.
                skip = f"superseded by the loaded snapshot of {latest} (this one is of {cutoff})"
        if skip is not None:
            audit.record_skip(
                control,
                source=source,
                delivery_id=delivery_id,
                cutoff=cutoff,
                manifest_sha256=manifest_sha,
                run_id=run_id,
                reason=skip,
            )
            return DeliveryOutcome(source, delivery_id, "skipped", skip)
        attempt = audit.start_attempt(
            control,
            source=source,
            delivery_id=delivery_id,
            cutoff=cutoff,
            manifest_sha256=manifest_sha,
            run_id=run_id,
        )
        outcome = DeliveryOutcome(source, delivery_id, "running")
        try:
            if refusal is None:
                assert manifest is not None
                _check_files(delivery_dir, manifest, contract)
                # One GX project per delivery: its results and Data Docs stay small and
                # self-contained, and rendering never grows with the delivery history.
                gx_project = (gx_dir or config.state_dir() / "gx") / source / delivery_id
                validator = DeliveryValidator(gx_project, contract, manifest.cutoff_date)
                _load(
                    delivery_dir,
                    manifest,
                    contract,
                    url,
                    attempt,
                    key,
                    validator,
                    outcome,
                    progress,
                )
                outcome.data_docs = validator.build_docs()
                return outcome
            outcome.reason = refusal
        except MedfollowError as exc:
            outcome.reason = str(exc)
        outcome.reason = scrub(outcome.reason or "refused")
        outcome.status = "refused"
        audit.finish_attempt(
            control, attempt, status="refused", reason=outcome.reason, rows_read=outcome.rows_read
        )
        return outcome


def _read_manifest(delivery_dir: Path) -> tuple[Manifest | None, str | None, str | None]:
    path = delivery_dir / MANIFEST_NAME
    if not delivery_dir.is_dir():
        raise MedfollowError(f"no delivery folder at {delivery_dir}")
    if not path.exists():
        return None, None, f"no {MANIFEST_NAME} in the delivery folder"
    try:
        return Manifest.read(delivery_dir), sha256_of(path), None
    except (ValueError, KeyError, TypeError) as exc:
        return None, sha256_of(path), f"unreadable manifest ({type(exc).__name__}: {exc})"


def _delivered_files(
    delivery_dir: Path, manifest: Manifest, contract: SourceContract
) -> dict[str, tuple[Path, int, str]]:
    """Each contract table's file and expected row count, as the manifest lists them.

    The manifest's ``table`` field names the table a file holds, so a registry may send a
    table as CSV one month and as a SAS dataset or Parquet the next; the reader follows
    the file's extension.
    """
    by_table = {f.table: f for f in manifest.files}
    by_name = {f.name: f for f in manifest.files}
    found = {}
    for table in contract.tables:
        entry = by_table.get(table.name) or by_name.get(table.file)
        if entry is None:
            raise MedfollowError(f"manifest lists no file for table {table.name} ({table.file})")
        found[table.name] = (delivery_dir / entry.name, entry.rows, entry.sha256)
    return found


def _check_files(delivery_dir: Path, manifest: Manifest, contract: SourceContract) -> None:
    """File-level checks: every contract table delivered intact, every column present."""
    files = _delivered_files(delivery_dir, manifest, contract)
    for table in contract.tables:
        path, _, expected_sha = files[table.name]
        if not path.exists():
            raise MedfollowError(f"{path.name} is missing from the delivery")
        if sha256_of(path) != expected_sha:
            raise MedfollowError(
                f"{path.name}: checksum does not match the manifest "
                "(altered or truncated in transit)"
            )
        present = set(read.columns_of(path, contract.encoding))
        missing = [
            c.name
            for c in table.columns
            if c.name not in present and not present.intersection(c.aliases)
        ]
        if missing:
            raise MedfollowError(f"{path.name}: missing columns {', '.join(missing)}")


def _load(
    delivery_dir: Path,
    manifest: Manifest,
    contract: SourceContract,
    url: str,
    attempt: int,
    key: bytes,
    validator: DeliveryValidator,
    outcome: DeliveryOutcome,
    progress: Progress | None,
) -> None:
    pseudonymiser = Pseudonymiser(key)
    files = _delivered_files(delivery_dir, manifest, contract)
    total = sum(rows for _, rows, _ in files.values())
    with psycopg.connect(url) as conn:  # one transaction: all of it or none of it
        conn.execute("set local lock_timeout = '60s'")
        ensure_tables(conn, contract)
        if contract.mode == "snapshot":
            for table in contract.tables:
                conn.execute(sql.SQL("delete from {}").format(raw_name(contract, table)))
        for table in contract.tables:
            read_rows = 0
            path, expected, _ = files[table.name]
            batches = read.batches(path, contract.encoding)
            prepared = prefetch(
                _prepare_batches(batches, table, manifest, pseudonymiser, validator)
            )
            for batch in prepared:
                copy_table(conn, raw_name(contract, table), batch.good)
                copy_table(conn, quarantine_name(contract, table), batch.quarantine)
                read_rows += batch.rows
                outcome.rows_read += batch.rows
                outcome.rows_loaded += batch.good.num_rows
                outcome.rows_quarantined += batch.quarantine.num_rows
                outcome.mod11_warnings += batch.mod11_warnings
                if progress:
                    progress(f"{contract.source}/{table.name}", outcome.rows_read, total)
            if read_rows != expected:
                raise MedfollowError(
                    f"{path.name}: manifest says {expected:,} rows, "
                    f"file has {read_rows:,} (truncated?)"
                )
            moved = _quarantine_cross_row(conn, contract, table, manifest)
            outcome.rows_loaded -= moved
            outcome.rows_quarantined += moved
            outcome.tables[table.name] = read_rows
        outcome.status = "loaded"
        audit.finish_attempt(
            conn,
            attempt,
            status="loaded",
            rows_read=outcome.rows_read,
            rows_loaded=outcome.rows_loaded,
            rows_quarantined=outcome.rows_quarantined,
        )


def _apply_aliases(batch: pa.RecordBatch, table: Table) -> pa.RecordBatch:
    """Rename delivered column names to the contract's canonical names."""
    renames = {alias: col.name for col in table.columns for alias in col.aliases}
    if not renames.keys() & set(batch.schema.names):
        return batch
    return batch.rename_columns([renames.get(n, n) for n in batch.schema.names])


@dataclass
class _PreparedBatch:
    """A batch ready to COPY: rows for raw, rows for quarantine, and counts."""

    rows: int
    good: pa.Table
    quarantine: pa.Table
    mod11_warnings: int


def _prepare_batches(
    batches: Iterator[pa.RecordBatch],
    table: Table,
    manifest: Manifest,
    pseudonymiser: Pseudonymiser,
    validator: DeliveryValidator,
) -> Iterator[_PreparedBatch]:
    """Type, pseudonymise and validate each batch; pure CPU work, no database.

    Runs in a worker thread (see ``prefetch``) so that it overlaps the server's COPY of the
    previous batch: Arrow, pandas and the socket writes release the GIL.
    """
    offset = 0
    for delivered in batches:
        batch = _apply_aliases(delivered, table)
        converted = convert_batch(batch, table)
        columns: dict[str, pa.Array] = {}
        for col in table.columns:
            values = converted.columns[col.name]
            columns[col.target] = pseudonymiser.column(values) if col.type == "cpr" else values
        n = batch.num_rows
        row_numbers = pa.array(range(offset + 1, offset + n + 1), pa.int64())
        offset += n
        typed = pa.table(
            {
                **columns,
                "_delivery_id": pa.repeat(manifest.delivery_id, n),
                "_row_number": row_numbers,
            }
        )
        expectations, _ = validator.validate(table, typed)
        reasons = pc.coalesce(converted.reasons, expectations)
        bad = pc.is_valid(reasons)
        yield _PreparedBatch(
            rows=n,
            good=typed.filter(pc.invert(bad)),
            quarantine=_quarantine_records(
                table, batch, columns, reasons, bad, row_numbers, manifest.delivery_id
            ),
            mod11_warnings=converted.mod11_warnings,
        )


def _quarantine_records(
    table: Table,
    batch: pa.RecordBatch,
    pseudonymised: dict[str, pa.Array],
    reasons: pa.Array,
    bad: pa.Array,
    row_numbers: pa.Array,
    delivery_id: str,
) -> pa.Table:
    """Refused rows as delivered, except CPRs, which appear only as pseudonyms."""
    record: dict[str, pa.Array] = {}
    for col in table.columns:
        if col.type == "cpr":
            record[col.target] = pc.filter(pseudonymised[col.target], bad)
        elif col.name in batch.schema.names:
            record[col.name] = pc.filter(pc.cast(batch.column(col.name), pa.string()), bad)
    rows = pa.table(record).to_pylist() if record else []
    return pa.table(
        {
            "_delivery_id": pa.repeat(delivery_id, len(rows)),
            "_row_number": pc.filter(row_numbers, bad),
            "reason": pc.filter(reasons, bad),
            "record": pa.array([json.dumps(r, ensure_ascii=False) for r in rows], pa.string()),
        }
    )


def _quarantine_cross_row(
    conn: psycopg.Connection, contract: SourceContract, table: Table, manifest: Manifest
) -> int:
    """Checks that need more than one batch: duplicate keys and unknown persons."""
    moved = 0
    target, quarantine = raw_name(contract, table), quarantine_name(contract, table)
    delivery = sql.Literal(manifest.delivery_id)
    if table.keys:
        keys = [contract.table(table.name).column(k).target for k in table.keys]
        key_list = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        reason = sql.Literal(f"duplicate key ({', '.join(table.keys)})")
        moved += _move(
            conn,
            target,
            quarantine,
            reason,
            delivery,
            sql.SQL(
                "({keys}) in (select {keys} from {t} group by {keys} having count(*) > 1)"
            ).format(keys=key_list, t=target),
        )
    person_cols = [c.target for c in table.columns if c.type == "cpr"]
    if contract.references_cpr_register and person_cols and _cpr_register_loaded(conn):
        for column in person_cols:
            moved += _move(
                conn,
                target,
                quarantine,
                sql.Literal(f"{column}: person not in the CPR register"),
                delivery,
                sql.SQL(
                    "{c} is not null and not exists (select 1 from raw.cpr__persons p "
                    "where p.person_key = r.{c}) and not exists (select 1 from "
                    "raw.cpr__changes h where h.gammelt_person_key = r.{c})"
                ).format(c=sql.Identifier(column)),
            )
    return moved


def _move(
    conn: psycopg.Connection,
    target: sql.Identifier,
    quarantine: sql.Identifier,
    reason: sql.Composable,
    delivery: sql.Composable,
    condition: sql.Composable,
) -> int:
    cur = conn.execute(
        sql.SQL(
            """with moved as (
               delete from {t} r where r._delivery_id = {d} and {cond} returning r.*)
           insert into {q} (_delivery_id, _row_number, reason, record)
           select _delivery_id, _row_number, {reason},
                  to_jsonb(moved) - '_delivery_id' - '_row_number' from moved"""
        ).format(t=target, d=delivery, cond=condition, q=quarantine, reason=reason)
    )
    return cur.rowcount


def _cpr_register_loaded(conn: psycopg.Connection) -> bool:
    if not (table_exists(conn, "raw.cpr__persons") and table_exists(conn, "raw.cpr__changes")):
        return False
    row = conn.execute("select exists (select 1 from raw.cpr__persons)").fetchone()
    return bool(row and row[0])
