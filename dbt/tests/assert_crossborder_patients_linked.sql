{{ config(severity='warn') }}
-- Warns while patients treated abroad are missing from the marts: foreign patient ids in
-- the cross-border extract that record linkage has not linked to a person in the CPR
-- register (no row in linkage.person_links, or a minted key of their own). Linkage
-- publishes them under the raw table's name, outcomes_crossborder__patients.
select distinct a.foreign_patient_id
from {{ ref('stg_outcomes_crossborder__assessments') }} as a
left join {{ ref('int_person_key_map') }} as l
    on
        l.source_name = 'outcomes_crossborder__patients'
        and a.foreign_patient_id = l.record_id
where l.record_id is null or l.link_method = 'minted'
