-- LPR3 contacts of treated persons only, under their current person_key. Narrowing to the
-- treated cohort first keeps every later join small, whatever the size of LPR3.
with treated as (
    select distinct person_key from {{ ref('int_atmp_treatments') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

contacts as (
    select
        c.contact_id,
        c.course_id,
        coalesce(k.person_key, c.person_key) as person_key,
        c.start_date,
        c.end_date,
        c.specialty,
        c.region_code,
        c.priority
    from {{ ref('stg_lpr3__contacts') }} as c
    left join key_map as k
        on
            k.source_name = 'lpr3__kontakter'
            and c.person_key = k.record_id
)

select c.*
from contacts as c
inner join treated as t
    on c.person_key = t.person_key
