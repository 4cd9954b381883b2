{#- Lipid-lowering treatment per person: dispensings (prescription register) and hospital
    administrations of the drugs of fh_treatment_atc, under the person's current key. One
    row per treated person: the first date and the treatment classes seen. -#}
with treatment_atc as (
    select
        atc_prefix,
        treatment_class
    from {{ ref('fh_treatment_atc') }}
),

key_map as (
    select
        source_name,
        record_id,
        person_key
    from {{ ref('int_person_key_map') }}
),

dispensings as (
    select
        person_key,
        dispensing_date,
        atc_code
    from {{ ref('stg_lmdb__dispensings') }}
),

administrations as (
    select
        person_key,
        administration_date,
        atc_code
    from {{ ref('stg_sygehusmedicin__administrations') }}
),

records as (
    select
        coalesce(k.person_key, d.person_key) as person_key,
        d.dispensing_date as record_date,
        d.atc_code
    from dispensings as d
    left join key_map as k
        on
            k.source_name = 'lmdb__ekspeditioner'
            and d.person_key = k.record_id
    union all
    select
        coalesce(k.person_key, a.person_key) as person_key,
        a.administration_date as record_date,
        a.atc_code
    from administrations as a
    left join key_map as k
        on
            k.source_name = 'sygehusmedicin__administrationer'
            and a.person_key = k.record_id
)

select
    r.person_key,
    min(r.record_date) as first_treatment_date,
    string_agg(distinct t.treatment_class, ', ' order by t.treatment_class) as treatment_classes
from records as r
inner join treatment_atc as t
    on r.atc_code like t.atc_prefix || '%'
group by r.person_key
