{#- FH case finding: the Dutch Lipid Clinic Network score and category of every person
    with an LDL result or any scoring component, with each component's points and
    evidence, and whether the person is already diagnosed (DE780) or treated. Persons with
    an opt-out of genetic data in force on the date of the build are left out. -#}
with components as (
    select * from {{ ref('int_fh_dlcn_components') }}
),

categories as (
    select
        dlcn_category,
        min_score,
        max_score
    from {{ ref('fh_dlcn_categories') }}
),

persons as (
    select
        person_key,
        sex,
        birth_date
    from {{ ref('dim_person') }}
),

diagnoses as (
    select
        person_key,
        first_event_date
    from {{ ref('int_fh_clinical_events') }}
    where component = 'fh_diagnosis'
),

treatments as (
    select
        person_key,
        first_treatment_date,
        treatment_classes
    from {{ ref('int_fh_treatments') }}
),

optouts as (
    select person_key from {{ ref('int_genetic_optouts_in_force') }}
)

select
    c.person_key,
    p.sex,
    p.birth_date,
    c.dlcn_score,
    g.dlcn_category,
    c.ldl_points,
    c.highest_ldl_mmol_l,
    c.highest_ldl_date,
    c.ldl_measurements,
    c.clinical_history_points,
    c.premature_cad_date,
    c.premature_cad_code,
    c.premature_other_vascular_date,
    c.premature_other_vascular_code,
    c.physical_examination_points,
    c.family_history_points,
    c.relatives_with_evidence,
    c.family_history_evidence,
    c.dna_points,
    c.dna_evidence,
    d.person_key is not null as already_diagnosed,
    d.first_event_date as fh_diagnosis_date,
    t.person_key is not null as treated,
    t.first_treatment_date,
    t.treatment_classes
from components as c
inner join persons as p
    on c.person_key = p.person_key
inner join categories as g
    on
        c.dlcn_score >= g.min_score
        and (g.max_score is null or c.dlcn_score <= g.max_score)
left join diagnoses as d
    on c.person_key = d.person_key
left join treatments as t
    on c.person_key = t.person_key
left join optouts as o
    on c.person_key = o.person_key
where
    (c.dlcn_score > 0 or c.ldl_measurements > 0)
    and o.person_key is null
