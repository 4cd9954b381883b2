-- Patients treated at Nordic centres abroad have no Danish ATMP administration. They are
-- known only from the cross-border outcome extract, keyed by a foreign patient id, and reach
-- a person_key through record linkage (linkage.person_links). While that table is absent
-- this model is empty and stg_linkage__person_links warns at build time.
-- The extract carries no treatment date: it is estimated as the median over a patient's
-- assessments of (assessment date - nominal timepoint), accurate to about a week.
with assessments as (
    select * from {{ ref('stg_outcomes_crossborder__assessments') }}
),

links as (
    select *
    from {{ ref('stg_linkage__person_links') }}
    where source_name = 'outcomes_crossborder'
),

persons as (
    select person_key from {{ ref('stg_cpr__persons') }}
),

products as (
    select product_code from {{ ref('atmp_products') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

estimated as (
    select
        foreign_patient_id,
        product_code,
        percentile_disc(0.5) within group (
            order by assessment_date - timepoint_day
        ) as treatment_date,
        min(treatment_centre) as treatment_centre
    from assessments
    where product_code is not null
    group by foreign_patient_id, product_code
)

select
    e.foreign_patient_id,
    coalesce(k.person_key, l.person_key) as person_key,
    e.product_code,
    e.treatment_date,
    e.treatment_centre,
    l.link_method
from estimated as e
inner join links as l
    on e.foreign_patient_id = l.record_id
inner join products as p
    on e.product_code = p.product_code
left join key_map as k
    on l.person_key = k.delivered_person_key
inner join persons as s
    on coalesce(k.person_key, l.person_key) = s.person_key
