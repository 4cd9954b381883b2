with source as (
    select * from {{ source('cpr', 'cpr__persons') }}
)

select
    person_key,
    case koen when '1' then 'male' when '2' then 'female' end as sex,
    foedselsdato as birth_date,
    region as region_code,
    kommune as municipality_code,
    case status
        when '01' then 'alive'
        when '70' then 'disappeared'
        when '80' then 'emigrated'
        when '90' then 'dead'
    end as vital_status,
    status_dato as vital_status_date,
    mor_person_key as mother_person_key,
    far_person_key as father_person_key,
    _delivery_id as delivery_id
from source
