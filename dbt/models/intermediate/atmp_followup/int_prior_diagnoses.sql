-- Comorbidities before treatment that matter for the product's therapy class, from the
-- diagnosis_groups seed (each group with its own look-back window).
with treatments as (
    select * from {{ ref('int_atmp_treatments') }}
),

diagnoses as (
    select * from {{ ref('int_treated_diagnoses') }}
),

groups as (
    select *
    from {{ ref('diagnosis_groups') }}
    where role in ('prior', 'both')
)

select
    t.treatment_id,
    string_agg(distinct g.diagnosis_group, ',' order by g.diagnosis_group) as prior_diagnosis_groups
from treatments as t
inner join diagnoses as d
    on t.person_key = d.person_key
inner join groups as g
    on
        d.diagnosis_code like g.code_prefix || '%'
        and g.relevant_for in ('all', t.therapy_class)
        and t.treatment_date > d.diagnosis_date
        and d.diagnosis_date >= t.treatment_date - g.lookback_days
group by t.treatment_id
