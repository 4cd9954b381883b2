-- Lines of antineoplastic therapy before the ATMP, counted in the hospital medicines
-- register: each day's antineoplastic drugs form a regimen signature, and a line starts
-- whenever the signature changes. Only administrations from the index diagnosis up to 14
-- days before treatment count (lymphodepletion and bridging close to the infusion are not
-- lines). Drugs are those of ATC class antineoplastic (atc_classification). The register starts
-- in 2018: lines given earlier are invisible, so a CAR-T patient with none recorded gets no
-- line of therapy rather than "first line".
with treatments as (
    select * from {{ ref('int_atmp_treatments') }}
),

indication as (
    select * from {{ ref('int_treatment_indication') }}
),

administrations as (
    select * from {{ ref('int_treated_administrations') }}
),

classified as (
    -- each drug's class: the longest matching prefix of the atc_classification seed
    select distinct on (a.atc_code)
        a.atc_code,
        c.atc_class
    from (select distinct atc_code from administrations) as a
    inner join {{ ref('atc_classification') }} as c
        on a.atc_code like c.atc_prefix || '%'
    order by a.atc_code asc, length(c.atc_prefix) desc
),

antineoplastic as (
    select atc_code
    from classified
    where atc_class = 'antineoplastic'
),

regimen_days as (
    select
        t.treatment_id,
        a.administration_date,
        string_agg(distinct a.atc_code, ',' order by a.atc_code) as regimen
    from treatments as t
    inner join indication as i
        on t.treatment_id = i.treatment_id
    inner join administrations as a
        on
            t.person_key = a.person_key
            and a.administration_date < t.treatment_date - 14
            and a.administration_date >= coalesce(i.index_diagnosis_date, t.treatment_date - 3650)
    inner join antineoplastic as n
        on a.atc_code = n.atc_code
    group by t.treatment_id, a.administration_date
),

changes as (
    select
        treatment_id,
        case
            -- a regimen is never empty, so '' stands for "no earlier administration day"
            when coalesce(
                    lag(regimen) over (
                        partition by treatment_id order by administration_date
                    ), ''
                ) != regimen then 1
            else 0
        end as starts_line
    from regimen_days
)

select
    treatment_id,
    sum(starts_line)::integer as prior_therapy_lines
from changes
group by treatment_id
