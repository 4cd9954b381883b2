-- The indication each treatment was given for, among the product's indications in the
-- atmp_indications seed. Decided by, in order: a (non-retracted) diagnosis matching the
-- indication's codes on or before the treatment date (the most recent wins); the product
-- having a single indication; a single indication whose age range fits. Otherwise the
-- indication is 'unknown' rather than a guess.
with treatments as (
    select * from {{ ref('int_atmp_treatments') }}
),

indications as (
    select * from {{ ref('atmp_indications') }}
),

diagnoses as (
    select * from {{ ref('int_treated_diagnoses') }}
),

indication_codes as (
    select
        i.product_code,
        i.indication_group,
        btrim(code.code_prefix) as code_prefix
    from indications as i
    cross join lateral unnest(string_to_array(i.diagnosis_codes, '|')) as code (code_prefix)
),

matches as (
    select
        t.treatment_id,
        c.indication_group,
        min(d.diagnosis_date) as first_diagnosis_date,
        max(d.diagnosis_date) as last_diagnosis_date,
        (array_agg(d.diagnosis_code order by d.diagnosis_date, d.diagnosis_code))[1] as index_diagnosis_code
    from treatments as t
    inner join indication_codes as c
        on t.product_code = c.product_code
    inner join diagnoses as d
        on
            t.person_key = d.person_key
            and d.diagnosis_code like c.code_prefix || '%'
            and t.treatment_date >= d.diagnosis_date
    group by t.treatment_id, c.indication_group
),

candidates as (
    select
        t.treatment_id,
        i.indication_group,
        i.response_scale,
        m.index_diagnosis_code,
        m.first_diagnosis_date,
        m.last_diagnosis_date,
        m.treatment_id is not null as has_diagnosis,
        coalesce(t.age_at_treatment between i.min_age and i.max_age, false) as age_fits,
        count(*) over (partition by t.treatment_id) as product_indications,
        count(*) filter (
            where t.age_at_treatment between i.min_age and i.max_age
        ) over (partition by t.treatment_id) as age_fitting_indications
    from treatments as t
    inner join indications as i
        on t.product_code = i.product_code
    left join matches as m
        on
            t.treatment_id = m.treatment_id
            and i.indication_group = m.indication_group
),

ranked as (
    select
        *,
        case
            when has_diagnosis then 'diagnosis'
            when product_indications = 1 then 'only_indication'
            when age_fits and age_fitting_indications = 1 then 'age'
        end as indication_basis,
        row_number() over (
            partition by treatment_id
            order by has_diagnosis desc, last_diagnosis_date desc nulls last, age_fits desc, indication_group asc
        ) as preference
    from candidates
)

select
    treatment_id,
    case when indication_basis is null then 'unknown' else indication_group end as indication_group,
    case when indication_basis is null then null else response_scale end as response_scale,
    coalesce(indication_basis, 'unresolved') as indication_basis,
    index_diagnosis_code,
    first_diagnosis_date as index_diagnosis_date
from ranked
where preference = 1
