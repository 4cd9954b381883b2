{#- Each person's LDL cholesterol as the DLCN reads it: the highest value measured (any
    analysis of fh_lab_codes, in its unit), when, how many measurements, and the highest
    measured before age 18 (the family-history criterion on children). Results delivered
    under a since-replaced CPR number count for the person's current key. One row per
    person with at least one LDL result. -#}
with lab_codes as (
    select
        npu_code,
        unit
    from {{ ref('fh_lab_codes') }}
),

persons as (
    select
        person_key,
        birth_date
    from {{ ref('stg_cpr__persons') }}
),

key_map as (
    select
        record_id,
        person_key
    from {{ ref('int_person_key_map') }}
    where source_name = 'lab__resultater'
),

results as (
    select
        person_key,
        sample_date,
        npu_code,
        unit,
        value_numeric
    from {{ ref('stg_lab__results') }}
),

ldl as (
    select
        coalesce(k.person_key, r.person_key) as person_key,
        r.sample_date,
        r.value_numeric
    from results as r
    inner join lab_codes as c
        on
            r.npu_code = c.npu_code
            and r.unit = c.unit
    left join key_map as k
        on r.person_key = k.record_id
    where r.value_numeric is not null
),

ranked as (
    select
        l.person_key,
        l.sample_date,
        l.value_numeric,
        p.birth_date,
        row_number() over (
            partition by l.person_key order by l.value_numeric desc, l.sample_date asc
        ) as value_rank,
        count(*) over (partition by l.person_key) as ldl_measurements,
        max(
            case when l.sample_date < p.birth_date + interval '18 years' then l.value_numeric end
        ) over (partition by l.person_key) as highest_ldl_before_18_mmol_l
    from ldl as l
    left join persons as p
        on l.person_key = p.person_key
)

select
    person_key,
    value_numeric as highest_ldl_mmol_l,
    sample_date as highest_ldl_date,
    ldl_measurements,
    highest_ldl_before_18_mmol_l
from ranked
where value_rank = 1
