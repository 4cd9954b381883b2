{#- The outcome columns both assessment extracts share (Danish clinical databases and Nordic
    treatment centres deliver the same measurements), renamed and typed once. -#}
{% macro outcome_assessment_columns() %}
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
{%- endmacro %}
