with source as (
    select * from {{ source('lmdb', 'lmdb__ekspeditioner') }}
)

select
    _delivery_id || '#' || _row_number::text as dispensing_id,
    person_key,
    eksd as dispensing_date,
    atc as atc_code,
    vnr as product_number,
    apk as packages,
    _delivery_id as delivery_id
from source
