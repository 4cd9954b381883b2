-- Lines of antineoplastic therapy before the ATMP, counted in the hospital medicines
-- register: each day's antineoplastic drugs form a regimen signature, and a line starts
-- whenever the signature changes. Only administrations from the index diagnosis up to 14
-- days before treatment count (lymphodepletion and bridging close to the infusion are not
-- lines). Drugs are those of the subsequent_therapy outcome definition. The register starts
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

antineoplastic as (
    select code as atc_prefix
    from {{ ref('outcome_definitions') }}
    where
        outcome_id = 'subsequent_therapy'
        and event_source = 'sygehusmedicin_atc'
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
        on a.atc_code like n.atc_prefix || '%'
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
