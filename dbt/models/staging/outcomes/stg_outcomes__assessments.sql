with source as (
    select * from {{ source('outcomes', 'outcomes__vurderinger') }}
)

select
    _delivery_id || '#' || _row_number::text as assessment_id,
    person_key,
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
