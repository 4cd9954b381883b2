with source as (
    select * from {{ source('lpr3', 'lpr3__kontakter') }}
)

select
    dw_ek_kontakt as contact_id,
    dw_ek_forloeb as course_id,
    person_key,
    dato_start as start_date,
    dato_slut as end_date,
    hovedspeciale_ans as specialty,
    region as region_code,
    kontakttype as contact_type,
    case prioritet when 'ATA1' then 'acute' when 'ATA3' then 'planned' end as priority,
    _delivery_id as delivery_id
from source
