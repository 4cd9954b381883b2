{#- The DLCN clinical history and the FH diagnosis from LPR3: diagnoses (retracted ones
    dropped in staging) and procedures matching fh_codes, under the person's current key.
    premature_cad and premature_cerebral_peripheral count only at an age below the
    criterion's cut-off for the person's sex (fh_dlcn_criteria: men <55, women <60);
    fh_diagnosis (DE780) counts at any age. One row per person and component, with the
    first qualifying event. -#}
with codes as (
    select
        code_prefix,
        code_type,
        component
    from {{ ref('fh_codes') }}
),

criteria as (
    select
        criterion_code,
        age_below_male,
        age_below_female
    from {{ ref('fh_dlcn_criteria') }}
),

persons as (
    select
        person_key,
        sex,
        birth_date
    from {{ ref('stg_cpr__persons') }}
),

key_map as (
    select
        record_id,
        person_key
    from {{ ref('int_person_key_map') }}
    where source_name = 'lpr3__kontakter'
),

contacts as (
    select
        contact_id,
        person_key,
        start_date
    from {{ ref('stg_lpr3__contacts') }}
),

diagnoses as (
    select
        contact_id,
        diagnosis_code
    from {{ ref('stg_lpr3__diagnoses') }}
),

procedures as (
    select
        contact_id,
        procedure_code,
        procedure_date
    from {{ ref('stg_lpr3__procedures') }}
),

coded as (
    select
        c.person_key,
        c.start_date as event_date,
        d.diagnosis_code as code,
        'diagnosis' as code_type
    from contacts as c
    inner join diagnoses as d
        on c.contact_id = d.contact_id
    union all
    select
        c.person_key,
        coalesce(p.procedure_date, c.start_date) as event_date,
        p.procedure_code as code,
        'procedure' as code_type
    from contacts as c
    inner join procedures as p
        on c.contact_id = p.contact_id
),

matched as (
    select
        coalesce(k.person_key, x.person_key) as person_key,
        x.event_date,
        x.code,
        f.component
    from coded as x
    inner join codes as f
        on
            x.code_type = f.code_type
            and x.code like f.code_prefix || '%'
    left join key_map as k
        on x.person_key = k.record_id
),

aged as (
    select
        m.person_key,
        m.event_date,
        m.code,
        m.component,
        extract(year from age(m.event_date, p.birth_date))::integer as age_years,
        case p.sex
            when 'male' then c.age_below_male
            when 'female' then c.age_below_female
        end as age_below
    from matched as m
    inner join persons as p
        on m.person_key = p.person_key
    left join criteria as c
        on m.component = c.criterion_code
),

qualifying as (
    select
        person_key,
        event_date,
        code,
        component,
        age_years,
        row_number() over (
            partition by person_key, component order by event_date asc, code asc
        ) as event_rank
    from aged
    where component = 'fh_diagnosis' or age_years < age_below
)

select
    person_key,
    component,
    event_date as first_event_date,
    code as first_code,
    age_years as age_at_first_event
from qualifying
where event_rank = 1
