{#- linkage.person_links is created at bootstrap (infra/warehouse/004_linkage.sql) and filled
    by record linkage (src/rwd_linkage), which the marts DAG runs before dbt. Materialised
    as a table, not a view, so that the marts never pin the linkage job's table (a
    dependent view would block it from altering or replacing the table). -#}
{{ config(materialized='table') }}

with source as (
    select * from {{ source('linkage', 'person_links') }}
)

select
    source as source_name,
    record_id,
    person_key,
    method as link_method,
    match_probability
from source
