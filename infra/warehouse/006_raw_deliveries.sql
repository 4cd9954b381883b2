-- Raw tables hold one table per delivery. raw.<source>__<table> is what everyone reads; each
-- load creates raw.<source>__<table>__a<attempt_id> in its own transaction (see
-- src/registry_ingest/load.py), fills it by COPY and puts it under the raw table by
-- inheritance. Its delivery id and load time are kept once, as column defaults in the
-- catalogue, and read as _delivery_id and _loaded_at on every row: no per-row bytes. Only a
-- numbered table (see the contracts) stores _row_number (file order within the delivery)
-- in each row.
--
-- Which table holds which delivery, for engineers (audit is not readable by researchers).
-- loaded_at is the load transaction's time: what _loaded_at reads on the delivery's rows.
create or replace view audit.raw_deliveries as
select
    format('%I.%I', n.nspname, parent.relname)     as raw_table,
    format('%I.%I', cn.nspname, child.relname)     as delivery_table,
    d.source,
    d.delivery_id,
    d.attempt_id,
    d.finished_at                                  as loaded_at
from pg_catalog.pg_inherits as i
join pg_catalog.pg_class as child on child.oid = i.inhrelid
join pg_catalog.pg_class as parent on parent.oid = i.inhparent
join pg_catalog.pg_namespace as n on n.oid = parent.relnamespace and n.nspname = 'raw'
join pg_catalog.pg_namespace as cn on cn.oid = child.relnamespace
left join audit.deliveries as d
    on d.attempt_id = substring(child.relname from '__a([0-9]+)$')::bigint;

comment on view audit.raw_deliveries is
    'Each raw delivery table, the raw table it belongs to and its delivery (audit.deliveries).';
