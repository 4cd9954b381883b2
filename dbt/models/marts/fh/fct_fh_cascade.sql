{#- Cascade screening list: the first-degree relatives of every definite or probable FH case
    who have no LDL measurement and no FH diagnosis (DE780), alive in Denmark by the CPR
    register. One row per index case and relative (a relative of two cases has two rows).
    Index cases come from fct_fh_case_finding, which already leaves out persons with an
    opt-out of genetic data in force; relatives with one in force are left out too. -#}
with cases as (
    select
        person_key,
        dlcn_score,
        dlcn_category
    from {{ ref('fct_fh_case_finding') }}
    where dlcn_category in ('definite', 'probable')
),

relatives as (
    select
        person_key,
        relative_person_key,
        relationship
    from {{ ref('int_fh_first_degree_relatives') }}
),

persons as (
    select
        person_key,
        sex,
        birth_date,
        region_code,
        vital_status
    from {{ ref('dim_person') }}
),

measured as (
    select person_key from {{ ref('int_fh_ldl') }}
),

diagnosed as (
    select person_key
    from {{ ref('int_fh_clinical_events') }}
    where component = 'fh_diagnosis'
),

optouts as (
    select person_key from {{ ref('int_genetic_optouts_in_force') }}
)

select
    c.person_key as index_person_key,
    r.relative_person_key as person_key,
    r.relationship,
    c.dlcn_category as index_dlcn_category,
    c.dlcn_score as index_dlcn_score,
    p.sex,
    p.birth_date,
    p.region_code
from cases as c
inner join relatives as r
    on c.person_key = r.person_key
inner join persons as p
    on r.relative_person_key = p.person_key
left join measured as m
    on r.relative_person_key = m.person_key
left join diagnosed as d
    on r.relative_person_key = d.person_key
left join optouts as o
    on r.relative_person_key = o.person_key
where
    p.vital_status = 'alive'
    and m.person_key is null
    and d.person_key is null
    and o.person_key is null
