-- Identifying columns of the cross-border patient file (names, birth dates) are not read:
-- the foreign patient id is all the marts need, and linkage resolves it to a person_key.
with source as (
    select * from {{ source('outcomes_crossborder', 'outcomes_crossborder__assessments') }}
)

select
    _delivery_id || '#' || _row_number::text as assessment_id,
    foreign_patient_id,
    behandlingssted as treatment_centre,
    vurderingsdato as assessment_date,
    tidspunkt::integer as timepoint_day,
    produkt as product_code,
    respons as response,
    crs_grad::integer as crs_grade,
    crs_debut as crs_onset_date,
    icans_grad::integer as icans_grade,
    icans_debut as icans_onset_date,
    intensiv as icu_admitted,
    tocilizumab as tocilizumab_given,
    steroid as corticosteroid_given,
    faktor_ix_aktivitet as factor_ix_activity_pct,
    abr as annualised_bleeding_rate,
    profylakse_genoptaget as prophylaxis_resumed,
    motor_milepael as motor_milestone,
    eq5d_index,
    _delivery_id as delivery_id
from source
