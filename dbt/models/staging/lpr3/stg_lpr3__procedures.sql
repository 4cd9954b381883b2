with source as (
    select * from {{ source('lpr3', 'lpr3__procedurer') }}
)

select
    dw_ek_kontakt as contact_id,
    procedurekode as procedure_code,
    dato_start as procedure_date,
    _delivery_id as delivery_id
from source
