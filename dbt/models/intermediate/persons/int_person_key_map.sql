-- Which person each delivered record belongs to, exactly as record linkage published it
-- (linkage.person_links, filled by the marts DAG's linkage task before dbt runs). dbt never
-- works out identity itself: CPR-number succession is linkage's (linkage.key_succession()).
-- One row per linkage source and record:
--   * a source with CPR (source_name = its raw table, e.g. lpr3__kontakter): record_id is the
--     pseudonym as delivered, possibly a number the person has since replaced;
--   * a source without CPR (outcomes_crossborder__patients): record_id is the source's own key
--     (foreign_patient_id).
-- person_key is the person's current pseudonym, the CPR register's key.
select
    source_name,
    record_id,
    person_key,
    link_method
from {{ ref('stg_linkage__person_links') }}
