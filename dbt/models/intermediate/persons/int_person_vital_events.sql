-- Dated events that interrupt or end registry follow-up, one row per person, event, date and
-- source: death (CPR vital status and the causes-of-death register), emigration (CPR
-- migrations out, and CPR status 80 "emigrated" with its date, honoured even without a
-- migration row), immigration (CPR migrations in: a return resumes follow-up) and
-- disappearance (CPR status 70: whereabouts unknown, i.e. lost to follow-up).
with persons as (
    select * from {{ ref('stg_cpr__persons') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

cpr_deaths as (
    select
        person_key,
        'death' as vital_event,
        vital_status_date as event_date,
        'cpr' as source_name
    from persons
    where vital_status = 'dead' and vital_status_date is not null
),

register_deaths as (
    select
        coalesce(k.person_key, d.person_key) as person_key,
        'death' as vital_event,
        min(d.death_date) as event_date,
        'doedsaarsag' as source_name
    from {{ ref('stg_doedsaarsag__deaths') }} as d
    left join key_map as k
        on
            k.source_name = 'doedsaarsag__doedsfald'
            and d.person_key = k.record_id
    group by coalesce(k.person_key, d.person_key)
),

migrations as (
    select
        coalesce(k.person_key, m.person_key) as person_key,
        case m.direction when 'out' then 'emigration' else 'immigration' end as vital_event,
        m.migration_date as event_date,
        'cpr' as source_name
    from {{ ref('stg_cpr__migrations') }} as m
    left join key_map as k
        on
            k.source_name = 'cpr__migrations'
            and m.person_key = k.record_id
),

status_emigrations as (
    -- the register's current status: emigrated on vital_status_date (a return would have
    -- set the status back to alive)
    select
        person_key,
        'emigration' as vital_event,
        vital_status_date as event_date,
        'cpr_status' as source_name
    from persons
    where vital_status = 'emigrated' and vital_status_date is not null
),

disappearances as (
    select
        person_key,
        'disappearance' as vital_event,
        vital_status_date as event_date,
        'cpr' as source_name
    from persons
    where vital_status = 'disappeared' and vital_status_date is not null
)

select * from cpr_deaths
union all
select * from register_deaths
union all
select * from migrations
union all
select * from status_emigrations
union all
select * from disappearances
