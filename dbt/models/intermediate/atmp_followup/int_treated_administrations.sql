-- Every hospital-medicine administration of treated persons (supportive care, subsequent
-- therapy, factor concentrate), under their current person_key.
with treated as (
    select distinct person_key from {{ ref('int_atmp_treatments') }}
),

key_map as (
    select * from {{ ref('int_person_key_map') }}
),

administrations as (
    select
        a.administration_id,
        coalesce(k.person_key, a.person_key) as person_key,
        a.administration_date,
        a.atc_code
    from {{ ref('stg_sygehusmedicin__administrations') }} as a
    left join key_map as k
        on
            k.source_name = 'sygehusmedicin__administrationer'
            and a.person_key = k.record_id
)

select a.*
from administrations as a
inner join treated as t
    on a.person_key = t.person_key
