-- Each patient's status at each registry follow-up timepoint (followup_calendar seed), from
-- their first treatment of a product and indication. In order:
--   not yet reached      the timepoint lies after the cut-off
--   dead                 died on or before it (while followed)
--   lost to follow-up    follow-up ended before it by disappearance or an emigration
--                        without return
--   abroad               emigrated and not (yet) back on that day, but followed again later:
--                        follow-up interrupted, resumed on return
--   alive and followed   otherwise
with followup as (
    select * from {{ ref('int_atmp_followup') }}
    where is_first_treatment
),

calendar as (
    select * from {{ ref('followup_calendar') }}
),

migrations as (
    select * from {{ ref('int_person_vital_events') }}
    where vital_event in ('emigration', 'immigration')
),

timepoints as (
    select
        f.treatment_id,
        f.person_key,
        f.product_code,
        f.indication_group,
        c.timepoint,
        c.timepoint_day,
        f.index_date + c.timepoint_day as timepoint_date,
        f.cutoff_date,
        f.death_date,
        f.followup_end_date,
        f.followup_end_reason
    from followup as f
    cross join calendar as c
),

located as (
    select
        t.*,
        (
            select m.vital_event
            from migrations as m
            where
                m.person_key = t.person_key
                and m.event_date <= t.timepoint_date
            order by m.event_date desc, m.vital_event asc
            limit 1
        ) = 'emigration' as abroad
    from timepoints as t
)

select
    treatment_id::text as treatment_id,
    person_key::text as person_key,
    product_code::text as product_code,
    indication_group::text as indication_group,
    timepoint::text as timepoint,
    timepoint_day::integer as timepoint_day,
    timepoint_date::date as timepoint_date,
    case
        when timepoint_date > cutoff_date then 'not yet reached'
        when death_date <= timepoint_date then 'dead'
        when followup_end_date < timepoint_date then 'lost to follow-up'
        when abroad then 'abroad'
        else 'alive and followed'
    end::text as status,
    case
        when timepoint_date <= cutoff_date and death_date is null and followup_end_date < timepoint_date
            then followup_end_reason
    end::text as lost_reason
from located
