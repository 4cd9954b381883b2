-- Identifying columns of the cross-border patient file (names, birth dates) are not read:
-- the foreign patient id is all the marts need, and linkage resolves it to a person_key.
with source as (
    select * from {{ source('outcomes_crossborder', 'outcomes_crossborder__assessments') }}
)

select
    _delivery_id || '#' || _row_number::text as assessment_id,
    foreign_patient_id,
    behandlingssted as treatment_centre,
    {{ outcome_assessment_columns() }}
    _delivery_id as delivery_id
from source
