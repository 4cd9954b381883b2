-- Patient-level competing-risk data behind agg_cumulative_incidence (int_atmp_competing_events
-- under the contract of marts/atmp/_atmp__models.yml).
select
    treatment_id::text as treatment_id,
    person_key::text as person_key,
    product_code::text as product_code,
    indication_group::text as indication_group,
    event_type::text as event_type,
    time_days::integer as time_days,
    event_code::integer as event_code
from {{ ref('int_atmp_competing_events') }}
