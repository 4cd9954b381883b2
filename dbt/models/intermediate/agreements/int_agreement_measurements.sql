-- The measurements outcome-based agreements are judged on, one row per measurement:
-- responses on the indication's scale (clinical extracts) and factor IX activity
-- (laboratory and clinical extracts).
select
    treatment_id,
    'response' as measure,
    assessment_date as measure_date,
    is_response,
    is_progression,
    null::numeric as value_numeric
from {{ ref('int_outcome_assessments') }}
where response_rank is not null

union all

select
    treatment_id,
    'factor_ix' as measure,
    event_date as measure_date,
    null::boolean as is_response,
    null::boolean as is_progression,
    value_numeric
from {{ ref('int_followup_events') }}
where event_type = 'factor_ix_activity' and value_numeric is not null
