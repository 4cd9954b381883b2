"""Ingest one delivery: check, read, type, validate, pseudonymise and load — or refuse.

This is the single code path behind the Airflow ingest tasks and ``medfollow ingest``.
File-level problems (no manifest, checksum mismatch, missing columns, wrong encoding,
truncated file) refuse the whole delivery and leave the warehouse exactly as it was.
Row-level problems — values that cannot be typed, invalid CPR numbers, a CPR number where
none belongs (``stray_cprs``), and whatever the source's Great Expectations suite flags —
send the row to ``quarantine.<source>__<table>`` with a reason and its contract-typed record;
the rest loads; a child row (an LPR3 diagnosis) follows its parent row (the contact).
Everything the delivery changes becomes visible in one transaction, together with its
``audit.deliveries`` status.

Registers are guarded: the loads of a source run one at a time (an advisory lock per
source); a snapshot older than the one in force is skipped; a snapshot that would empty or
sharply shrink a table, a cut-off in the future, and a loaded delivery id re-sent with other
files are refused. A lost database connection ends the attempt as ``failed`` (retried).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from medfollow_core import config
from medfollow_core.errors import MedfollowError, scrub
from medfollow_core.landing import audit
from medfollow_core.landing.contracts import SourceContract, Table, contract_for
from medfollow_core.landing.delivered import delivered_file
from medfollow_core.landing.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    manifest_bytes,
    sha256_of,
)
from medfollow_core.pseudonymise import Pseudonymiser
from medfollow_core.types import Progress
from medfollow_core.warehouse.catalog import table_exists
from medfollow_core.warehouse.copy import copy_csv, render_csv
from registry_ingest import read
from registry_ingest.convert import convert_batch
from registry_ingest.files import check_columns, table_entries
from registry_ingest.load import (
    attach_delivery_table,
    create_delivery_table,
    ensure_tables,
    quarantine_name,
    raw_name,
    replace_earlier_deliveries,
    upgrade_layout,
)
from registry_ingest.prefetch import prefetch
from registry_ingest.recheck import child_reason, unknown_person_reason, unregistered
from registry_ingest.stray_cprs import find_stray_cprs
from registry_ingest.validate import DeliveryValidator

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,120}")


@dataclass
class DeliveryOutcome:
    source: str
    delivery_id: str
    status: str  # loaded | refused | skipped | failed (transient: retry)
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
        if self.status in ("skipped", "failed"):
            return f"{self.source}/{self.delivery_id}: {self.status} — {self.reason}"
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
    force_reason: str | None = None,
) -> DeliveryOutcome:
    """Load one delivery folder; never raises for a bad delivery (it returns 'refused').

    A lost database connection returns 'failed' (safe to retry); ``force_reason`` lets a
    snapshot shrink a register beyond `max_snapshot_drop`, and is recorded in the audit.
    """
    delivery_dir = delivery_dir.resolve()
    manifest, manifest_sha, refusal = _read_manifest(delivery_dir)
    delivery_id = manifest.delivery_id if manifest else delivery_dir.name
    source = source or (manifest.source if manifest else delivery_dir.parent.name)
    contract = contract_for(source)
    if manifest and manifest.source != source:
        refusal = f"manifest is for source {manifest.source!r}, not {source!r}"
    if not _SAFE_ID.fullmatch(delivery_id):
        # The id names folders (validation results): no paths, no surprises. The audit keeps
        # the name as sent (made printable and CPR-free), so the folder is known as dealt with.
        refusal = "delivery id may only hold letters, digits, '.', '_' and '-'"
        delivery_id = _printable(delivery_id)
    cutoff = manifest.cutoff_date if manifest else None
    if refusal is None and cutoff is not None and cutoff > date.today() + CUTOFF_TOLERANCE:
        refusal = f"cut-off date {cutoff} is in the future (a typo in the year?)"
    attempt = _Attempt(
        source=source,
        delivery_id=delivery_id,
        cutoff=cutoff,
        manifest_sha256=manifest_sha,
        files_sha256=_files_fingerprint(manifest) if manifest else None,
        run_id=run_id,
    )
    try:
        with psycopg.connect(url, autocommit=True) as control:
            audit.lock_source(control, source)
            audit.close_interrupted(control, source)
            if refusal is None:
                refusal = _reused_id(control, attempt)
            skip = None if refusal else _skip_reason(control, contract, attempt)
            if skip is not None:
                audit.record_skip(control, **attempt.audit_fields(), reason=skip)
                return DeliveryOutcome(source, delivery_id, "skipped", skip)
            attempt.attempt_id = audit.start_attempt(control, **attempt.audit_fields())
            outcome = DeliveryOutcome(source, delivery_id, "running")
            checksums: _Checksums | None = None
            try:
                if refusal is None:
                    assert manifest is not None
                    checksums = _check_files(delivery_dir, manifest, contract)
                    # One GX project per delivery: its results and Data Docs stay small and
                    # self-contained, and rendering never grows with the delivery history.
                    gx_project = (gx_dir or config.validation_dir()) / source / delivery_id
                    validator = DeliveryValidator(gx_project, contract, manifest.cutoff_date)
                    load = _LoadRequest(
                        delivery_dir, manifest, contract, url, attempt.attempt_id, key, checksums
                    )
                    _load(load, validator, outcome, progress, force_reason)
                    outcome.data_docs = validator.build_docs()
                    return outcome
                outcome.reason = refusal
            except (MedfollowError, psycopg.DataError) as exc:
                # A file altered in transit explains whatever else failed on the way.
                outcome.reason = (checksums.refusal() if checksums else None) or _refusal(exc)
            outcome.reason = scrub(outcome.reason or "refused")
            outcome.status = "refused"
            audit.finish_attempt(
                control,
                attempt.attempt_id,
                status="refused",
                reason=outcome.reason,
                rows_read=outcome.rows_read,
            )
            return outcome
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        return _connection_lost(url, attempt, exc)


CUTOFF_TOLERANCE = timedelta(days=1)
"""How far past today a cut-off may lie (time zones, a delivery cut late in the day)."""

MAX_DROP_ENV = "MEDFOLLOW_MAX_SNAPSHOT_DROP"
DEFAULT_MAX_DROP = 0.2


def max_snapshot_drop() -> float:
    """The share by which a snapshot may shrink a table before it is refused (default 20 %).

    Set ``MEDFOLLOW_MAX_SNAPSHOT_DROP`` (a fraction, e.g. ``0.1``) to change it. A snapshot
    replaces the register, so a header-only or mostly quarantined one would silently empty it.
    """
    text = os.environ.get(MAX_DROP_ENV)
    if not text:
        return DEFAULT_MAX_DROP
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise MedfollowError(f"{MAX_DROP_ENV} must be a fraction between 0 and 1, not {text!r}")
    return share


@dataclass
class _Attempt:
    """What the audit records about an attempt, gathered before the database is touched."""

    source: str
    delivery_id: str
    cutoff: date | None
    manifest_sha256: str | None
    files_sha256: str | None
    run_id: str | None
    attempt_id: int | None = None

    def audit_fields(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "delivery_id": self.delivery_id,
            "cutoff": self.cutoff,
            "manifest_sha256": self.manifest_sha256,
            "files_sha256": self.files_sha256,
            "run_id": self.run_id,
        }


def _refusal(exc: MedfollowError | psycopg.DataError) -> str:
    """Why the delivery is refused: our message, or for a value the warehouse would not
    store the kind of error only: PostgreSQL's messages may quote the value ("invalid input
    syntax for type date: ...") and its context the whole row."""
    if isinstance(exc, MedfollowError):
        return str(exc)
    return f"the warehouse refused a value ({type(exc).__name__})"


def _printable(delivery_id: str) -> str:
    """A refused id as the audit shows it: CPR-free, one line, bounded."""
    text = "".join(c if c.isprintable() else "?" for c in delivery_id)
    return scrub(text)[:200] or "(empty)"


def _files_fingerprint(manifest: Manifest) -> str:
    """One digest over the delivered files' checksums (case-insensitive, order-free)."""
    parts = sorted(f"{f.table}={str(f.sha256).lower()}" for f in manifest.files)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _reused_id(control: psycopg.Connection, attempt: _Attempt) -> str | None:
    """A refusal when a loaded id arrives again with other files: a correction is a new id."""
    loaded, fingerprint = audit.loaded_fingerprint(control, attempt.source, attempt.delivery_id)
    if loaded and fingerprint and attempt.files_sha256 and fingerprint != attempt.files_sha256:
        return (
            "delivery id reused with different content (the checksums differ from the loaded "
            "delivery's); send a correction under a new delivery id"
        )
    return None


def _skip_reason(
    control: psycopg.Connection, contract: SourceContract, attempt: _Attempt
) -> str | None:
    """Why the delivery needs no load: already loaded, or an older snapshot than the one in
    force (a snapshot replaces the table, so an older one must never roll a register back)."""
    if audit.loaded_fingerprint(control, attempt.source, attempt.delivery_id)[0]:
        return "already loaded"
    if contract.mode != "snapshot" or attempt.cutoff is None:
        return None
    in_force = audit.snapshot_in_force(control, attempt.source)
    if in_force is None or (attempt.cutoff, attempt.delivery_id) > in_force:
        return None
    cutoff, delivery_id = in_force
    if attempt.cutoff < cutoff:
        return f"superseded by the loaded snapshot of {cutoff} (this one is of {attempt.cutoff})"
    return f"superseded by the loaded snapshot {delivery_id} of the same cut-off {cutoff}"


def _connection_lost(url: str, attempt: _Attempt, exc: psycopg.Error) -> DeliveryOutcome:
    """A failed attempt with one line: the warehouse went away (or never answered).

    The attempt row is closed as failed if the warehouse answers again; otherwise it stays
    ``running`` and the next load of the source closes it.
    """
    detail = scrub(" ".join(str(exc).split()))[:300] or type(exc).__name__
    reason = f"lost the database connection ({detail}); nothing was loaded, safe to retry"
    if attempt.attempt_id is not None:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(url, autocommit=True, connect_timeout=10) as conn,
        ):
            audit.finish_attempt(conn, attempt.attempt_id, status="failed", reason=reason)
    return DeliveryOutcome(attempt.source, attempt.delivery_id, "failed", reason)


def _read_manifest(delivery_dir: Path) -> tuple[Manifest | None, str | None, str | None]:
    """The manifest, the sha256 of its bytes, and a one-line refusal if it is no valid one."""
    path = delivery_dir / MANIFEST_NAME
    if not delivery_dir.is_dir():
        raise MedfollowError(f"no delivery folder at {delivery_dir}")
    if not path.exists() and not path.is_symlink():
        return None, None, f"no {MANIFEST_NAME} in the delivery folder"
    try:
        data = manifest_bytes(delivery_dir)  # a folder, FIFO or symlink is refused unread
    except ManifestError as exc:
        return None, None, str(exc)
    sha = hashlib.sha256(data).hexdigest()
    try:
        return Manifest.parse(data), sha, None
    except ManifestError as exc:
        return None, sha, str(exc)


def _delivered_files(
    delivery_dir: Path, manifest: Manifest, contract: SourceContract
) -> dict[str, tuple[Path, int, str]]:
    """Each contract table's file (a regular file inside the folder), expected row count
    and checksum, as the manifest lists them (see `files.table_entries`)."""
    return {
        name: (delivered_file(delivery_dir, entry.name), entry.rows, entry.sha256)
        for name, entry in table_entries(manifest, contract).items()
    }


def _check_files(delivery_dir: Path, manifest: Manifest, contract: SourceContract) -> _Checksums:
    """File-level checks: every listed file a regular file inside the folder (all checked
    before a byte is read), every contract table valid in its declared encoding and with
    its columns, each once and flat; and every contract table intact, which the returned
    `_Checksums` confirm before the load commits."""
    for entry in manifest.files:
        delivered_file(delivery_dir, entry.name)
    files = _delivered_files(delivery_dir, manifest, contract)
    checksums = _Checksums([(path, sha) for path, _, sha in files.values()])
    try:
        for table_name, entry in table_entries(manifest, contract).items():
            encoding = manifest.encoding_of(entry) or contract.encoding
            check_columns(files[table_name][0], contract.table(table_name), encoding)
    except MedfollowError:
        checksums.verify()  # a file altered in transit is the refusal to report
        raise
    return checksums


class _Checksums:
    """The delivered files' sha256, compared with the manifest's in a thread of their own.

    Hashing a 200 MB file takes 0.15 s; done first, it held up everything else while the
    server waited, and so did waiting for it before the first COPY. Now the load checks the
    files' columns, sets up its tables and COPYs meanwhile (hashlib releases the GIL) into
    delivery tables that only its own uncommitted transaction can see, and `verify` stands
    before the load's last statements: no row becomes part of the warehouse, and nothing
    commits, unless every checksum matches. A mismatch is the refusal reported
    whatever else failed (``ingest_delivery``).
    """

    def __init__(self, files: list[tuple[Path, str]]) -> None:
        self._files = files
        self._refusal: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="medfollow-checksums")
        self._thread.start()

    def _run(self) -> None:
        try:
            for path, expected in self._files:
                if sha256_of(path) != expected:  # both lower-case: Manifest.parse folds case
                    self._refusal = (
                        f"{path.name}: checksum does not match the manifest "
                        "(altered or truncated in transit)"
                    )
                    return
        except MedfollowError as exc:  # a file that cannot be read is refused as before
            self._refusal = str(exc)
        except BaseException as exc:  # re-raised where the result is asked for
            self._error = exc

    def refusal(self) -> str | None:
        """Why the delivery is refused for its checksums, or None (waits for the hashing)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._refusal

    def verify(self) -> None:
        """Refuse the delivery unless every file matches its checksum."""
        refusal = self.refusal()
        if refusal is not None:
            raise MedfollowError(refusal)


@dataclass(frozen=True)
class _LoadRequest:
    """One delivery's load: where it is, what it is, where it goes, and the attempt row."""

    delivery_dir: Path
    manifest: Manifest
    contract: SourceContract
    url: str
    attempt_id: int
    key: bytes
    checksums: _Checksums


@dataclass(frozen=True)
class _TableLoad:
    """One contract table of a delivery: its file, its rows per the manifest, and the
    delivery table its rows go to (created before any file is read)."""

    table: Table
    path: Path
    encoding: str
    expected_rows: int
    target: sql.Identifier
    columns: list[str]


def _load(
    load: _LoadRequest,
    validator: DeliveryValidator,
    outcome: DeliveryOutcome,
    progress: Progress | None,
    force_reason: str | None,
) -> None:
    manifest, contract = load.manifest, load.contract
    pseudonymiser = Pseudonymiser(load.key)
    files = _delivered_files(load.delivery_dir, manifest, contract)
    entries = table_entries(manifest, contract)
    total = sum(rows for _, rows, _ in files.values())
    upgrade_layout(load.url, contract)
    with psycopg.connect(load.url) as conn:  # one transaction: all of it or none of it
        conn.execute("set local lock_timeout = '60s'")
        ensure_tables(conn, contract)
        before: dict[str, int] = {}
        if contract.mode == "snapshot":
            for table in contract.tables:
                before[table.name] = replace_earlier_deliveries(conn, contract, table)
        tables = []
        for table in contract.tables:
            target, columns = create_delivery_table(conn, contract, table, load.attempt_id)
            path, expected, _ = files[table.name]
            # the encoding _check_files verified: the sender's declaration, else the contract's
            encoding = manifest.encoding_of(entries[table.name]) or contract.encoding
            tables.append(_TableLoad(table, path, encoding, expected, target, columns))
        after: dict[str, int] = {}
        read_rows = loaded_rows = 0
        work = _prepare_delivery(tables, manifest, pseudonymiser, validator)
        for current, batch in prefetch(work, depth=4):
            table = current.table
            if batch is not None:
                copy_csv(conn, current.target, current.columns, batch.good, freeze=True)
                copy_csv(conn, quarantine_name(contract, table), _QUARANTINED, batch.quarantine)
                read_rows += batch.rows
                loaded_rows += batch.rows - batch.quarantined
                outcome.rows_read += batch.rows
                outcome.rows_quarantined += batch.quarantined
                outcome.mod11_warnings += batch.mod11_warnings
                if progress:
                    progress(f"{contract.source}/{table.name}", outcome.rows_read, total)
                continue
            if read_rows != current.expected_rows:
                raise MedfollowError(
                    f"{current.path.name}: manifest says {current.expected_rows:,} rows, "
                    f"file has {read_rows:,} (truncated?)"
                )
            attach_delivery_table(conn, contract, table, current.target, manifest.delivery_id)
            moved = _quarantine_cross_row(conn, contract, table, current.target)
            after[table.name] = loaded_rows - moved
            outcome.rows_quarantined += moved
            outcome.tables[table.name] = read_rows
            read_rows = loaded_rows = 0
        load.checksums.verify()  # nothing commits from a file altered in transit
        targets = {t.table.name: t.target for t in tables}
        for child, moved in _quarantine_children(conn, contract, manifest, targets).items():
            after[child] -= moved
            outcome.rows_quarantined += moved
        for name, rows in after.items():
            if rows == 0:  # a delivery table without rows only clutters raw
                conn.execute(sql.SQL("drop table {}").format(targets[name]))
        outcome.rows_loaded = sum(after.values())
        forced = _guard_shrinking(contract, before, after, force_reason)
        outcome.status = "loaded"
        audit.finish_attempt(
            conn,
            load.attempt_id,
            status="loaded",
            reason=forced,
            rows_read=outcome.rows_read,
            rows_loaded=outcome.rows_loaded,
            rows_quarantined=outcome.rows_quarantined,
        )


def _prepare_delivery(
    tables: list[_TableLoad],
    manifest: Manifest,
    pseudonymiser: Pseudonymiser,
    validator: DeliveryValidator,
) -> Iterator[tuple[_TableLoad, _PreparedBatch | None]]:
    """Every table's prepared batches, each table's followed by ``None`` (its end), then the
    delivery's Data Docs; in the thread that consumes it (``prefetch``).

    One stream over all tables keeps the client a batch or two ahead of the server across
    table boundaries too: the next table's first batch, the small tables after a big one
    and the Data Docs (0.2-0.5 s of rendering) are prepared while the server still COPYs
    the last batches, instead of with the server idle. A delivery refused after that (a
    short file, a shrinking snapshot) keeps the Data Docs of its validation results, as it
    always kept the results; its outcome names no Data Docs.
    """
    for current in tables:
        batches = read.batches(current.path, current.encoding)
        prepared = _prepare_batches(
            batches, current.table, current.columns, manifest, pseudonymiser, validator
        )
        for batch in prepared:
            yield current, batch
        yield current, None
    validator.build_docs()


def _guard_shrinking(
    contract: SourceContract,
    before: dict[str, int],
    after: dict[str, int],
    force_reason: str | None,
) -> str | None:
    """Refuse a snapshot that would empty or sharply shrink a loaded table, unless forced.

    Counts what would be *loaded* (after quarantine), so a header-only file and a file whose
    rows are all quarantined (swapped columns) are caught alike. Returns the audit reason of
    a forced load, naming what it shrank.
    """
    limit = max_snapshot_drop()
    shrunk = [
        f"{contract.source}__{name} {rows:,} → {after[name]:,} rows"
        for name, rows in before.items()
        if rows > 0 and (after[name] == 0 or after[name] < rows * (1 - limit))
    ]
    if not shrunk:
        return None
    if not force_reason or not force_reason.strip():
        raise MedfollowError(
            f"the snapshot would shrink {', '.join(shrunk)} (more than {limit:.0%} fewer); "
            "if that is right, load it again with a --force-reason"
        )
    return f"forced: {' '.join(force_reason.split())} ({', '.join(shrunk)})"


def _apply_aliases(batch: pa.RecordBatch, table: Table) -> pa.RecordBatch:
    """Rename delivered column names to the contract's canonical names."""
    renames = {alias: col.name for col in table.columns for alias in col.aliases}
    if not renames.keys() & set(batch.schema.names):
        return batch
    return batch.rename_columns([renames.get(n, n) for n in batch.schema.names])


_QUARANTINED = ["_delivery_id", "_row_number", "reason", "record"]
"""The quarantine columns a batch's refused rows fill (see `_quarantine_records`)."""


@dataclass
class _PreparedBatch:
    """A batch ready to COPY: rows for the delivery table and for quarantine, already
    rendered as COPY's CSV (see `render_csv`), and counts."""

    rows: int
    good: list[pa.Buffer]
    quarantine: list[pa.Buffer]
    quarantined: int
    mod11_warnings: int


def _prepare_batches(
    batches: Iterator[pa.RecordBatch],
    table: Table,
    columns: list[str],
    manifest: Manifest,
    pseudonymiser: Pseudonymiser,
    validator: DeliveryValidator,
) -> Iterator[_PreparedBatch]:
    """Type, pseudonymise, clear of CPR numbers, validate and render each batch; no database.

    Runs in a worker thread (see ``prefetch``) so that it overlaps the server's COPY of the
    previous batch: Arrow, pandas and the socket writes release the GIL. The rows are
    rendered as CSV here too (``columns``: the delivery table's, in its order), so that the
    loading thread only streams bytes and the server never waits for a batch's rendering.
    Nothing downstream of this function (raw, quarantine, Great Expectations, Data Docs)
    sees a delivered value that was not typed by the contract and scanned for CPR numbers.
    """
    offset = 0
    for delivered in batches:
        batch = _apply_aliases(delivered, table)
        converted = convert_batch(batch, table)
        targets: dict[str, pa.Array] = {}
        for col in table.columns:
            values = converted.columns[col.name]
            targets[col.target] = pseudonymiser.column(values) if col.type == "cpr" else values
        stray = find_stray_cprs(batch, table, targets, pseudonymiser)
        n = batch.num_rows
        row_numbers = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
        offset += n
        typed = pa.table({**stray.columns, "_row_number": row_numbers})
        expectations, _ = validator.validate(table, typed)
        found = [r for r in (stray.reasons, converted.reasons, expectations) if r.null_count < n]
        if not found:  # the common case: the whole batch loads, no row is looked at twice
            good = render_csv(typed.select(columns))
            yield _PreparedBatch(n, good, [], 0, converted.mod11_warnings)
            continue
        reasons = pc.coalesce(*found)
        bad = pc.is_valid(reasons)
        quarantine = _quarantine_records(
            table, typed, stray.in_record, reasons, bad, manifest.delivery_id
        )
        yield _PreparedBatch(
            rows=n,
            good=render_csv(typed.filter(pc.invert(bad)).select(columns)),
            quarantine=render_csv(quarantine.select(_QUARANTINED)),
            quarantined=quarantine.num_rows,
            mod11_warnings=converted.mod11_warnings,
        )


def _quarantine_records(
    table: Table,
    typed: pa.Table,
    in_record: dict[str, pa.Array],
    reasons: pa.Array,
    bad: pa.Array,
    delivery_id: str,
) -> pa.Table:
    """Refused rows as contract-typed records (the shape of a raw row), never as delivered.

    A value that could not be typed is null here (the reason says which column failed), so a
    shifted row — a CPR under a date header — cannot carry its values into quarantine; CPRs
    appear only as pseudonyms (``in_record`` holds them for non-text columns).
    """
    names = [c.target for c in table.columns]
    record = pa.table({n: pc.filter(in_record.get(n, typed.column(n)), bad) for n in names})
    rows = record.to_pylist()
    return pa.table(
        {
            "_delivery_id": pa.repeat(delivery_id, len(rows)),
            "_row_number": typed.column("_row_number").filter(bad),
            "reason": pc.filter(reasons, bad),
            "record": pa.array(
                [json.dumps(r, ensure_ascii=False, default=str) for r in rows], pa.string()
            ),
        }
    )


def _quarantine_cross_row(
    conn: psycopg.Connection, contract: SourceContract, table: Table, target: sql.Identifier
) -> int:
    """Checks that need more than one batch: duplicate keys (against every delivery loaded,
    this one included) and unknown persons; rows move out of this delivery's ``target``."""
    moved = 0
    loaded, quarantine = raw_name(contract, table), quarantine_name(contract, table)
    if table.keys:
        keys = [contract.table(table.name).column(k).target for k in table.keys]
        key_list = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        reason = sql.Literal(f"duplicate key ({', '.join(table.keys)})")
        moved += _move(
            conn,
            target,
            quarantine,
            reason,
            sql.SQL(
                "({keys}) in (select {keys} from {t} group by {keys} having count(*) > 1)"
            ).format(keys=key_list, t=loaded),
        )
    person_cols = [c.target for c in table.columns if c.type == "cpr"]
    if contract.references_cpr_register and person_cols and _cpr_register_loaded(conn):
        for column in person_cols:
            moved += _move(
                conn,
                target,
                quarantine,
                sql.Literal(unknown_person_reason(column)),
                sql.SQL("r.{c} is not null and {unknown}").format(
                    c=sql.Identifier(column),
                    unknown=unregistered(sql.SQL("r.{}").format(sql.Identifier(column))),
                ),
            )
    return moved


def children_of(contract: SourceContract) -> list[tuple[Table, Table, str]]:
    """(parent, child, key) for each table that hangs off another by the parent's key.

    A parent is a table keyed by one non-CPR column (LPR3 ``kontakter`` by
    ``dw_ek_kontakt``); every other table of the source holding that column is its child
    (``diagnoser``, ``procedurer``). Children follow their parent's fate within a delivery.
    """
    found = []
    for parent in contract.tables:
        if len(parent.keys) != 1 or parent.column(parent.keys[0]).type == "cpr":
            continue
        key = parent.keys[0]
        for child in contract.tables:
            if child is not parent and any(c.name == key for c in child.columns):
                found.append((parent, child, key))
    return found


def _quarantine_children(
    conn: psycopg.Connection,
    contract: SourceContract,
    manifest: Manifest,
    targets: dict[str, sql.Identifier],
) -> dict[str, int]:
    """Move a delivery's child rows whose parent row this delivery sent to quarantine.

    A contact quarantined (bad values, or a duplicate because it was re-sent) takes its
    diagnoses and procedures with it: they never load without it, and a re-sent contact's
    children are not appended a second time. Returns the rows moved per child table.
    """
    moved: dict[str, int] = {}
    delivery = sql.Literal(manifest.delivery_id)
    for parent, child, key in children_of(contract):
        moved[child.name] = moved.get(child.name, 0) + _move(
            conn,
            targets[child.name],
            quarantine_name(contract, child),
            sql.Literal(child_reason(key, parent)),
            sql.SQL(
                "r.{k}::text in (select q.record ->> {name} from {q} q where q._delivery_id = {d})"
            ).format(
                k=sql.Identifier(child.column(key).target),
                name=sql.Literal(parent.column(key).target),
                q=quarantine_name(contract, parent),
                d=delivery,
            ),
        )
    return moved


def _move(
    conn: psycopg.Connection,
    target: sql.Identifier,
    quarantine: sql.Identifier,
    reason: sql.Composable,
    condition: sql.Composable,
) -> int:
    """Move the rows of a delivery table ``target`` that meet ``condition`` to quarantine
    (with their row numbers where the table stores them, see ``load.QUARANTINE_COLUMNS``)."""
    cur = conn.execute(
        sql.SQL(
            """with moved as (delete from {t} r where {cond} returning to_jsonb(r) as row)
           insert into {q} (_delivery_id, _row_number, reason, record)
           select row ->> '_delivery_id', (row ->> '_row_number')::bigint, {reason},
                  row - '_delivery_id' - '_row_number' - '_loaded_at' from moved"""
        ).format(t=target, cond=condition, q=quarantine, reason=reason)
    )
    return cur.rowcount


def _cpr_register_loaded(conn: psycopg.Connection) -> bool:
    if not (table_exists(conn, "raw.cpr__persons") and table_exists(conn, "raw.cpr__changes")):
        return False
    row = conn.execute("select exists (select 1 from raw.cpr__persons)").fetchone()
    return bool(row and row[0])
