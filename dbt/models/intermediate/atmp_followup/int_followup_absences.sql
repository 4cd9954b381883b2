-- Stays abroad during each treatment's follow-up, one row per stay: an emigration after the
-- treatment date and the first return after it (CPR migrations in; return_date null when
-- not back by the cut-off, which ends follow-up). Emigrations before the same return are
-- one stay, from the first. Read by int_atmp_followup_window (follow-up end, days abroad)
-- and int_survival_segments (no one is at risk while abroad).
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

emigrations as (
    select distinct
        t.treatment_id,
        t.person_key,
        v.event_date as emigration_date
    from treatments as t
    cross join cutoff as c
    inner join vital as v
        on
            t.person_key = v.person_key
            and v.vital_event = 'emigration'
            and v.event_date between t.index_date and c.cutoff_date
),

returns as (
    select
        e.treatment_id,
        e.emigration_date,
        (
            select min(v.event_date)
            from vital as v
            where
                v.person_key = e.person_key
                and v.vital_event = 'immigration'
                and v.event_date > e.emigration_date
                and v.event_date <= c.cutoff_date
        ) as return_date
    from emigrations as e
    cross join cutoff as c
)

select
    treatment_id,
    min(emigration_date) as emigration_date,
    return_date
from returns
group by treatment_id, return_date
