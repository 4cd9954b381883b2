-- Schemas say who may read them:
--   raw, quarantine, audit  -> data engineers only
--   linkage                 -> engineers and reviewers (person links pair keys with source ids)
--   marts, exports          -> researchers and Medicinrådet (through the researcher role)
--   variants                -> the variant-frequency service
create schema if not exists raw;
create schema if not exists quarantine;
create schema if not exists audit;
create schema if not exists linkage;
create schema if not exists marts;
create schema if not exists exports;
create schema if not exists variants;

comment on schema raw is 'Pseudonymised registry deliveries as loaded (engineers only).';
comment on schema quarantine is 'Rows refused by validation, with the reason (engineers only).';
comment on schema audit is 'One row per delivery attempt and other operational records (engineers only).';
comment on schema linkage is 'Person links across sources, review queue, linkage quality (engineers, reviewers).';
comment on schema marts is 'Documented follow-up marts built by dbt (researchers).';
comment on schema exports is 'Disclosure-controlled tables for Medicinrådet (researchers, Medicinrådet).';
comment on schema variants is 'Variant-frequency releases (variant service).';
