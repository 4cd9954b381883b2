with source as (
    select * from {{ source('cpr', 'cpr__changes') }}
)

select
    gammelt_person_key as old_person_key,
    nyt_person_key as new_person_key,
    dato as change_date,
    _delivery_id as delivery_id
from source
