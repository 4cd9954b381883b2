-- Diagnoses later retracted (senere_afkraeftet) were never true: they are dropped here so
-- that no downstream model can count them.
with source as (
    select * from {{ source('lpr3', 'lpr3__diagnoser') }}
)

select
    dw_ek_kontakt as contact_id,
    diagnosekode as diagnosis_code,
    case diagnosetype
        when 'A' then 'primary'
        when 'B' then 'secondary'
        when '+' then 'additional'
    end as diagnosis_type,
    _delivery_id as delivery_id
from source
where senere_afkraeftet is not true
