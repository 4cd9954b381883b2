-- One row per ATMP treatment: Danish administration episodes (int_atmp_administrations),
-- plus linked patients treated abroad when no Danish episode of the same product lies within
-- 90 days (the same course reported twice). Person attributes are taken at the treatment date.
-- Episode model: treatment_number counts a person's treatments with one product (1 = first;
-- 2 = re-treatment after the product's episode window); atmp_line counts the different ATMPs
-- a person has had (a second CAR-T product is line 2). treatment_id is built from what does
-- not move: the person's stable key (int_person_stable_keys, unchanged by a new CPR number or
-- a re-run of linkage), the product and treatment_number - not the date, which for a
-- treatment abroad is an estimate that shifts as assessments arrive.
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

stable_keys as (
    select * from {{ ref('int_person_stable_keys') }}
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
),

numbered as (
    select
        u.*,
        coalesce(k.stable_person_key, u.person_key) as stable_person_key,
        row_number() over (
            partition by u.person_key, u.product_code
            order by u.treatment_date, u.treated_abroad
        ) as treatment_number,
        min(u.treatment_date) over (
            partition by u.person_key, u.product_code
        ) as product_first_date
    from unioned as u
    left join stable_keys as k
        on u.person_key = k.person_key
)

select
    md5(u.stable_person_key || '|' || u.product_code || '|' || u.treatment_number::text) as treatment_id,
    u.person_key,
    u.stable_person_key,
    u.product_code,
    u.treatment_number::integer as treatment_number,
    dense_rank() over (
        partition by u.person_key
        order by u.product_first_date, u.product_code
    )::integer as atmp_line,
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
from numbered as u
inner join products as pr
    on u.product_code = pr.product_code
left join persons as p
    on u.person_key = p.person_key
