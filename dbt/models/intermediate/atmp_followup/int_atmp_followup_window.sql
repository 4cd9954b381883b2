-- The observation window of each treatment and overall survival. Follow-up starts at the
-- treatment date and ends at the first of: death, an emigration with no return before the
-- cut-off, disappearance (lost to follow-up) or the data cut-off. An emigration followed by
-- a return (CPR migration in) interrupts follow-up and the return resumes it: the stay
-- abroad is reported (absences, days_abroad) and later events count. A death after a final
-- emigration happened outside Danish registry coverage and is censored at the emigration
-- date. CPR status "emigrated" counts as an emigration even without a migration row.
-- Vital events after the cut-off are ignored.
with treatments as (
    select
        treatment_id,
        person_key,
        treatment_date as index_date
    from {{ ref('int_atmp_treatments') }}
),

vital as (
    select * from {{ ref('int_person_vital_events') }}
),

cutoff as (
    select cutoff_date from {{ ref('int_data_cutoff') }}
),

absence_summary as (
    select
        treatment_id,
        min(emigration_date) filter (where return_date is null) as final_emigration_date,
        count(*) filter (where return_date is not null) as absences,
        sum(return_date - emigration_date) as days_abroad
    from {{ ref('int_followup_absences') }}
    group by treatment_id
),

per_treatment as (
    select
        t.treatment_id,
        t.person_key,
        t.index_date,
        c.cutoff_date,
        min(v.event_date) filter (where v.vital_event = 'death') as death_date,
        (
            array_agg(v.source_name order by v.event_date, v.source_name)
            filter (where v.vital_event = 'death')
        )[1
        ] as death_source,
        min(x.final_emigration_date) as emigration_date,
        coalesce(min(x.absences), 0) as absences,
        coalesce(min(x.days_abroad), 0) as days_abroad,
        min(v.event_date) filter (where v.vital_event = 'disappearance') as disappearance_date
    from treatments as t
    cross join cutoff as c
    left join vital as v
        on
            t.person_key = v.person_key
            and t.index_date <= v.event_date
            and c.cutoff_date >= v.event_date
    left join absence_summary as x
        on t.treatment_id = x.treatment_id
    group by t.treatment_id, t.person_key, t.index_date, c.cutoff_date
),

ended as (
    select
        *,
        least(death_date, emigration_date, disappearance_date, cutoff_date) as followup_end_date
    from per_treatment
),

reasoned as (
    select
        *,
        case
            when death_date = followup_end_date then 'death'
            when emigration_date = followup_end_date then 'emigration'
            when disappearance_date = followup_end_date then 'lost_to_followup'
            else 'cutoff'
        end as followup_end_reason
    from ended
)

select
    treatment_id,
    person_key,
    index_date,
    cutoff_date,
    case when followup_end_reason = 'death' then death_date end as death_date,
    case when followup_end_reason = 'death' then death_source end as death_source,
    case when followup_end_reason = 'emigration' then emigration_date end as emigration_date,
    followup_end_date,
    followup_end_reason,
    absences::integer as absences,
    days_abroad::integer as days_abroad,
    (followup_end_date - index_date)::integer as os_time_days,
    case when followup_end_reason = 'death' then 1 else 0 end as os_event
from reasoned
