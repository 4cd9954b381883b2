-- Every coded registry record of a treated person, in one shape, so that follow-up events
-- are found by one join to the outcome_definitions seed (int_followup_events). event_source
-- names the code system as the seed does (atc_class: the administration's class in the
-- atc_classification seed); match_code is what the seed's `code` is compared
-- with, by prefix for hierarchical code systems (ATC, SKS procedures) and exactly otherwise;
-- code is what the event reports. Records of one registry row may repeat (a diagnosis in
-- two diagnosis groups): events are one per registry row and outcome.
with administrations as (
    select * from {{ ref('int_treated_administrations') }}
),

procedures as (
    select * from {{ ref('int_treated_procedures') }}
),

contacts as (
    select * from {{ ref('int_treated_contacts') }}
),

diagnoses as (
    select * from {{ ref('int_treated_diagnoses') }}
),

lab_results as (
    select * from {{ ref('int_treated_lab_results') }}
),

outcome_groups as (
    select *
    from {{ ref('diagnosis_groups') }}
    where role in ('outcome', 'both')
),

medication as (
    select
        person_key,
        'sygehusmedicin_atc' as event_source,
        atc_code as match_code,
        true as prefix_match,
        administration_date as record_date,
        atc_code as code,
        null::numeric as value_numeric,
        'sygehusmedicin' as source_name,
        administration_id as source_record_id
    from administrations
),

classified_medication as (
    -- the same administrations under their ATC class (atc_classification seed; longest
    -- matching prefix wins, historic codes such as L01XC/L01XE included), so that an outcome
    -- can be a class ("antineoplastic") instead of a list of code prefixes repeated per outcome
    select distinct on (a.administration_id)
        a.person_key,
        'atc_class' as event_source,
        c.atc_class as match_code,
        false as prefix_match,
        a.administration_date as record_date,
        a.atc_code as code,
        null::numeric as value_numeric,
        'sygehusmedicin' as source_name,
        a.administration_id as source_record_id
    from administrations as a
    inner join {{ ref('atc_classification') }} as c
        on a.atc_code like c.atc_prefix || '%'
    order by a.administration_id asc, length(c.atc_prefix) desc
),

procedure_codes as (
    select
        person_key,
        'lpr3_procedure' as event_source,
        procedure_code as match_code,
        true as prefix_match,
        procedure_date as record_date,
        procedure_code as code,
        null::numeric as value_numeric,
        'lpr3' as source_name,
        contact_id as source_record_id
    from procedures
),

admissions as (
    -- overnight stays only; value_numeric is the length of stay in days
    select
        person_key,
        'lpr3_acute_admission' as event_source,
        priority as match_code,
        false as prefix_match,
        start_date as record_date,
        priority as code,
        (end_date - start_date)::numeric as value_numeric,
        'lpr3' as source_name,
        contact_id as source_record_id
    from contacts
    where end_date > start_date
),

diagnosis_group_codes as (
    select
        d.person_key,
        'diagnosis_group' as event_source,
        g.diagnosis_group as match_code,
        false as prefix_match,
        d.diagnosis_date as record_date,
        d.diagnosis_code as code,
        null::numeric as value_numeric,
        'lpr3' as source_name,
        d.contact_id as source_record_id
    from diagnoses as d
    inner join outcome_groups as g
        on d.diagnosis_code like g.code_prefix || '%'
),

lab_codes as (
    select
        person_key,
        'lab_npu' as event_source,
        npu_code as match_code,
        false as prefix_match,
        sample_date as record_date,
        npu_code as code,
        value_numeric,
        'lab' as source_name,
        lab_result_id as source_record_id
    from lab_results
)

select * from medication
union all
select * from classified_medication
union all
select * from procedure_codes
union all
select * from admissions
union all
select * from diagnosis_group_codes
union all
select * from lab_codes
