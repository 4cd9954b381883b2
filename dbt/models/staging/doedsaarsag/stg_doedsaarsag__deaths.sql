with source as (
    select * from {{ source('doedsaarsag', 'doedsaarsag__doedsfald') }}
)

select
    person_key,
    doedsdato as death_date,
    c_dod1 as underlying_cause_code,
    concat_ws(',', c_dod2, c_dod3, c_dod4) as contributing_cause_codes,
    _delivery_id as delivery_id
from source
