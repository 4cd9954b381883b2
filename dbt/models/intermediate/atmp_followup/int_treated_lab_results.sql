-- Laboratory results of treated persons, under their current person_key.
with treated as (
    select distinct person_key from {{ ref('int_atmp_treatments') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

results as (
    select
        r.lab_result_id,
        coalesce(k.person_key, r.person_key) as person_key,
        r.sample_date,
        r.npu_code,
        r.value_numeric,
        r.value_censoring,
        r.unit
    from {{ ref('stg_lab__results') }} as r
    left join key_map as k
        on
            k.source_name = 'lab__resultater'
            and r.person_key = k.record_id
)

select r.*
from results as r
inner join treated as t
    on r.person_key = t.person_key
