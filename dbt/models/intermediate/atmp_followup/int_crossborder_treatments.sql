-- Patients treated at Nordic centres abroad have no Danish ATMP administration. They are
-- known only from the cross-border outcome extract, keyed by a foreign patient id, and reach
-- a person_key through record linkage (int_person_key_map). Until linkage has linked a
-- patient, that patient is missing here (the test assert_crossborder_patients_linked warns).
-- The extract carries no treatment date: it is estimated as the median over a patient's
-- assessments of (assessment date - nominal timepoint), accurate to about a week.
with assessments as (
    select * from {{ ref('stg_outcomes_crossborder__assessments') }}
),

links as (
    select *
    from {{ ref('int_person_key_map') }}
    where source_name = 'outcomes_crossborder__patients'
),

persons as (
    select person_key from {{ ref('stg_cpr__persons') }}
),

products as (
    select product_code from {{ ref('atmp_products') }}
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
    l.person_key,
    e.product_code,
    e.treatment_date,
    e.treatment_centre,
    l.link_method
from estimated as e
inner join links as l
    on e.foreign_patient_id = l.record_id
inner join products as p
    on e.product_code = p.product_code
inner join persons as s
    on l.person_key = s.person_key
