with source as (
    select * from {{ source('cpr', 'cpr__migrations') }}
)

select
    person_key,
    case retning when 'ind' then 'in' when 'ud' then 'out' end as direction,
    dato as migration_date,
    land as country,
    _delivery_id as delivery_id
from source
