-- ATMP administrations in the hospital medicines register, grouped into treatment episodes:
-- an administration of one product to one person within the product's episode_window_days
-- (atmp_products seed, default 90) of the previous one belongs to the same treatment (e.g.
-- Luxturna's second eye, a CAR-T re-infusion on day 60). The product is recognised by its
-- ATC code in the atmp_products seed.
with administrations as (
    select * from {{ ref('stg_sygehusmedicin__administrations') }}
),

products as (
    select * from {{ ref('atmp_products') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

cutoff as (
    select * from {{ ref('int_data_cutoff') }}
),

atmp as (
    select
        a.administration_id,
        coalesce(k.person_key, a.person_key) as person_key,
        p.product_code,
        p.episode_window_days,
        a.atc_code,
        a.administration_date,
        a.region_code,
        a.department,
        a.dose,
        a.dose_unit
    from administrations as a
    inner join products as p
        on a.atc_code = p.atc_code
    cross join cutoff as c
    left join key_map as k
        on
            k.source_name = 'sygehusmedicin__administrationer'
            and a.person_key = k.record_id
    where a.administration_date <= c.cutoff_date
),

flagged as (
    select
        *,
        case
            when
                lag(administration_date) over (
                    partition by person_key, product_code
                    order by administration_date, administration_id
                ) >= administration_date - episode_window_days
                then 0
            else 1
        end as starts_episode
    from atmp
),

numbered as (
    select
        *,
        sum(starts_episode) over (
            partition by person_key, product_code
            order by administration_date, administration_id
            rows between unbounded preceding and current row
        ) as episode_number
    from flagged
)

select
    administration_id,
    person_key,
    product_code,
    atc_code,
    administration_date,
    min(administration_date) over (
        partition by person_key, product_code, episode_number
    ) as episode_start_date,
    region_code,
    department,
    dose,
    dose_unit
from numbered
