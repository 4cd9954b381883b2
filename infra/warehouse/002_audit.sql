-- Every delivery attempt leaves one row here: loaded, refused (bad delivery, never retried),
-- skipped (already loaded), failed (interrupted or a transient error; safe to retry).
create table if not exists audit.deliveries (
    attempt_id       bigint generated always as identity primary key,
    source           text        not null,
    delivery_id      text        not null,
    cutoff_date      date,
    manifest_sha256  text,
    rows_read        bigint      not null default 0,
    rows_loaded      bigint      not null default 0,
    rows_quarantined bigint      not null default 0,
    status           text        not null check (status in ('running', 'loaded', 'refused', 'skipped', 'failed')),
    reason           text,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz,
    airflow_run_id   text
);
create index if not exists deliveries_source_delivery on audit.deliveries (source, delivery_id);
-- At most one successful load per delivery: the guard that makes re-runs no-ops.
create unique index if not exists deliveries_loaded_once
    on audit.deliveries (source, delivery_id) where status = 'loaded';
-- The delivered files' checksums (one digest over the manifest's per-file sha256s): a loaded
-- id arriving again with other content is refused, not skipped.
alter table audit.deliveries add column if not exists files_sha256 text;

-- Rows moved back from quarantine into raw when a newer CPR register knew their persons
-- (registry_ingest/recheck.py): which delivery's rows, how many, and which register did it.
create table if not exists audit.rechecks (
    recheck_id            bigint generated always as identity primary key,
    source                text        not null,
    table_name            text        not null,
    delivery_id           text        not null,
    register_delivery_id  text,
    rows_reinstated       bigint      not null,
    rechecked_at          timestamptz not null default now()
);
