-- Every event type in fct_followup_events is either built in or an outcome_id of the
-- outcome_definitions seed, so the documented vocabulary is the whole vocabulary.
select distinct e.event_type
from {{ ref('fct_followup_events') }} as e
left join {{ ref('outcome_definitions') }} as d
    on e.event_type = d.outcome_id
where
    d.outcome_id is null
    and e.event_type not in (
        'atmp_administration', 'death', 'emigration', 'lost_to_followup',
        'response_assessment', 'progression', 'crs_onset', 'icans_onset',
        'factor_ix_activity', 'prophylaxis_resumed'
    )
