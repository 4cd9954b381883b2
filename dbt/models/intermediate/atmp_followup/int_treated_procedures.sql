-- Procedures of treated persons, dated by the procedure (or its contact when undated).
select
    c.person_key,
    c.contact_id,
    coalesce(p.procedure_date, c.start_date) as procedure_date,
    p.procedure_code
from {{ ref('int_treated_contacts') }} as c
inner join {{ ref('stg_lpr3__procedures') }} as p
    on c.contact_id = p.contact_id
