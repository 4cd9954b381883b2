{{ config(severity='warn', store_failures=true) }}
-- Lists every ATC code in hospital medicines or prescriptions, dated after a treated
-- person's treatment date, that matches no prefix of the atc_classification seed: such a
-- code is silently missing from subsequent therapy, supportive care or prophylaxis until
-- someone classifies it. store_failures keeps the list in a table (warn: real data may
-- bring new codes faster than the seed is updated; the marts tests require it to pass).
with treated as (
    select
        person_key,
        min(treatment_date) as first_treatment_date
    from {{ ref('int_atmp_treatments') }}
    group by person_key
),

hospital as (
    select
        'sygehusmedicin' as source_name,
        person_key,
        administration_date as record_date,
        atc_code
    from {{ ref('int_treated_administrations') }}
),

pharmacy as (
    select
        'lmdb' as source_name,
        coalesce(k.person_key, d.person_key) as person_key,
        d.dispensing_date as record_date,
        d.atc_code
    from {{ ref('stg_lmdb__dispensings') }} as d
    left join {{ ref('int_person_key_map') }} as k
        on
            k.source_name = 'lmdb__ekspeditioner'
            and d.person_key = k.record_id
),

after_treatment as (
    select r.*
    from (
        select * from hospital
        union all
        select * from pharmacy
    ) as r
    inner join treated as t
        on
            r.person_key = t.person_key
            and r.record_date > t.first_treatment_date
)

select
    a.atc_code,
    a.source_name,
    count(*) as records
from after_treatment as a
where not exists (
    select 1
    from {{ ref('atc_classification') }} as c
    where a.atc_code like c.atc_prefix || '%'
)
group by a.atc_code, a.source_name
