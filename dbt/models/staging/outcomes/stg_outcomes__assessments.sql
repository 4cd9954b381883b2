with source as (
    select * from {{ source('outcomes', 'outcomes__vurderinger') }}
)

select
    _delivery_id || '#' || _row_number::text as assessment_id,
    person_key,
    {{ outcome_assessment_columns() }}
    _delivery_id as delivery_id
from source
