with source as (
    select * from {{ source('sygehusmedicin', 'sygehusmedicin__administrationer') }}
)

select
    _delivery_id || '#' || _row_number::text as administration_id,
    person_key,
    adm_dato as administration_date,
    atc as atc_code,
    produktnavn as product_name,
    dosis as dose,
    enhed as dose_unit,
    afdeling as department,
    region as region_code,
    _delivery_id as delivery_id
from source
