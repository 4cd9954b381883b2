-- One row per patient and competing-risk event type (competing_event_types seed): each
-- person's first treatment of a product and indication (is_first_treatment), followed from
-- it to the end of follow-up or the type's horizon. event_code: 1 the event first, 2 the
-- competing event first (death; for non-relapse mortality, relapse/progression), 0 censored.
-- An event and its competitor on the same day count as the event. time_days: days to the
-- event, the competing event or censoring. Feeds fct_atmp_competing_events and
-- agg_cumulative_incidence (Aalen-Johansen).
with followup as (
    select * from {{ ref('int_atmp_followup') }}
    where is_first_treatment
),

types as (
    select * from {{ ref('competing_event_types') }}
),

first_events as (
    select
        treatment_id,
        event_type,
        min(event_date) as event_date
    from {{ ref('int_followup_events') }}
    group by treatment_id, event_type
),

dated as (
    select
        f.treatment_id,
        f.person_key,
        f.product_code,
        f.indication_group,
        t.event_type,
        f.index_date,
        least(f.followup_end_date, f.index_date + t.horizon_days) as end_date,
        case t.event_source
            when 'progression' then f.progression_date
            when 'death_without_progression'
                then case when f.progression_date is null or f.progression_date > f.death_date then f.death_date end
            else e.event_date
        end as event_date,
        case t.competing_event
            when 'death' then f.death_date
            when 'progression' then f.progression_date
        end as competing_date
    from followup as f
    inner join types as t
        on t.therapy_class is null or f.therapy_class = t.therapy_class
    left join first_events as e
        on
            f.treatment_id = e.treatment_id
            and t.event_source = e.event_type
),

coded as (
    select
        *,
        case
            when event_date <= end_date and (competing_date is null or event_date <= competing_date) then 1
            when competing_date <= end_date then 2
            else 0
        end as event_code
    from dated
)

select
    treatment_id,
    person_key,
    product_code,
    indication_group,
    event_type,
    case event_code
        when 1 then event_date - index_date
        when 2 then competing_date - index_date
        else end_date - index_date
    end as time_days,
    event_code
from coded
