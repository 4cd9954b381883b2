{{ config(severity='warn') }}
-- Warns while patients treated abroad are missing from the marts: foreign patient ids in
-- the cross-border extract with no link to a person in linkage.person_links (the whole
-- extract while that table does not exist). See fct_atmp_treatment.
select distinct a.foreign_patient_id
from {{ ref('stg_outcomes_crossborder__assessments') }} as a
left join {{ ref('stg_linkage__person_links') }} as l
    on
        l.source_name = 'outcomes_crossborder'
        and a.foreign_patient_id = l.record_id
where l.record_id is null
