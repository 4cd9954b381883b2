{#- CPR-number succession as the platform defines it, once: linkage.key_succession()
    (infra/warehouse/004_linkage.sql), the function record linkage resolves CPR sources
    with. Read here, not re-derived, so that the marts' stable person anchor
    (int_person_stable_keys) follows the same chains linkage does. A table, like
    stg_linkage__person_links, so the marts never pin linkage objects. -#}
{{ config(materialized='table') }}

select
    old_key as old_person_key,
    current_key as person_key
from linkage.key_succession()
