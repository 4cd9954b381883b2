-- One row per ATMP treatment: Danish administration episodes, plus linked patients treated
-- abroad when no Danish episode of the same product lies within 90 days (the same course
-- reported twice). Person attributes are taken at the treatment date.
with administrations as (
    select * from {{ ref('int_atmp_administrations') }}
),

crossborder as (
    select * from {{ ref('int_crossborder_treatments') }}
),

persons as (
    select * from {{ ref('stg_cpr__persons') }}
),

products as (
    select * from {{ ref('atmp_products') }}
),

cutoff as (
    select * from {{ ref('int_data_cutoff') }}
),

danish as (
    select
        person_key,
        product_code,
        episode_start_date as treatment_date,
        'sygehusmedicin' as treatment_source,
        false as treated_abroad,
        count(*)::integer as administrations,
        (array_agg(region_code order by administration_date, administration_id))[1] as region_code,
        (array_agg(department order by administration_date, administration_id))[1] as treatment_centre
    from administrations
    group by person_key, product_code, episode_start_date
),

abroad as (
    select
        x.person_key,
        x.product_code,
        x.treatment_date,
        'crossborder_extract' as treatment_source,
        true as treated_abroad,
        null::integer as administrations,
        null::text as region_code,
        x.treatment_centre
    from crossborder as x
    cross join cutoff as c
    where
        x.treatment_date <= c.cutoff_date
        and not exists (
            select 1
            from danish as d
            where
                d.person_key = x.person_key
                and d.product_code = x.product_code
                and abs(d.treatment_date - x.treatment_date) <= 90
        )
),

unioned as (
    select * from danish
    union all
    select * from abroad
)

select
    md5(u.person_key || '|' || u.product_code || '|' || u.treatment_date::text) as treatment_id,
    u.person_key,
    u.product_code,
    pr.product_name,
    pr.inn,
    pr.atc_code,
    pr.therapy_class,
    u.treatment_date,
    u.treatment_source,
    u.treated_abroad,
    u.administrations,
    u.region_code,
    u.treatment_centre,
    p.sex,
    p.birth_date,
    date_part('year', age(u.treatment_date, p.birth_date))::integer as age_at_treatment,
    p.region_code as residence_region_code
from unioned as u
inner join products as pr
    on u.product_code = pr.product_code
left join persons as p
    on u.person_key = p.person_key
