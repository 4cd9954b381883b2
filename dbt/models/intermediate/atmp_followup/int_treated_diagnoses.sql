-- Diagnoses (retracted ones already dropped in staging) of treated persons, dated by the
-- start of their contact.
select
    c.person_key,
    c.contact_id,
    c.start_date as diagnosis_date,
    d.diagnosis_code,
    d.diagnosis_type
from {{ ref('int_treated_contacts') }} as c
inner join {{ ref('stg_lpr3__diagnoses') }} as d
    on c.contact_id = d.contact_id
