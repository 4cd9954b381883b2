with treatments as (
    select * from {{ ref('int_atmp_treatments') }}
),

indication as (
    select * from {{ ref('int_treatment_indication') }}
),

lines as (
    select * from {{ ref('int_prior_therapy_lines') }}
),

comorbidity as (
    select * from {{ ref('int_prior_diagnoses') }}
)

select
    t.treatment_id::text as treatment_id,
    t.person_key::text as person_key,
    t.product_code::text as product_code,
    t.treatment_number::integer as treatment_number,
    t.atmp_line::integer as atmp_line,
    t.product_name::text as product_name,
    t.inn::text as inn,
    t.atc_code::text as atc_code,
    t.therapy_class::text as therapy_class,
    i.indication_group::text as indication_group,
    i.indication_basis::text as indication_basis,
    i.response_scale::text as response_scale,
    t.treatment_date::date as treatment_date,
    date_part('year', t.treatment_date)::integer as treatment_year,
    t.treatment_source::text as treatment_source,
    t.treated_abroad::boolean as treated_abroad,
    t.administrations::integer as administrations,
    t.region_code::text as region_code,
    t.residence_region_code::text as residence_region_code,
    t.treatment_centre::text as treatment_centre,
    t.sex::text as sex,
    t.age_at_treatment::integer as age_at_treatment,
    i.index_diagnosis_code::text as index_diagnosis_code,
    i.index_diagnosis_date::date as index_diagnosis_date,
    case
        when t.therapy_class = 'car_t' then coalesce(l.prior_therapy_lines, 0)
    end::integer as prior_therapy_lines,
    case
        when t.therapy_class = 'car_t' and l.prior_therapy_lines > 0 then l.prior_therapy_lines + 1
    end::integer as line_of_therapy,
    c.prior_diagnosis_groups::text as prior_diagnosis_groups
from treatments as t
inner join indication as i
    on t.treatment_id = i.treatment_id
left join lines as l
    on t.treatment_id = l.treatment_id
left join comorbidity as c
    on t.treatment_id = c.treatment_id
