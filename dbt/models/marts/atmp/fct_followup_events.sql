select
    event_id::text as event_id,
    treatment_id::text as treatment_id,
    person_key::text as person_key,
    event_type::text as event_type,
    event_date::date as event_date,
    days_from_index::integer as days_from_index,
    source_name::text as source_name,
    code::text as code,
    value_numeric::numeric(14, 4) as value_numeric
from {{ ref('int_followup_events') }}
