select
    p.person_key,
    p.sex,
    p.birth_date,
    p.region_code,
    p.municipality_code,
    p.vital_status,
    p.vital_status_date
from {{ ref('stg_cpr__persons') }} as p
