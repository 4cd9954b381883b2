{#- The measurements both outcome-assessment extracts carry (Danish clinical databases and
    Nordic treatment centres deliver the same ones), listed once: `column` as delivered,
    `name` in the warehouse, `type` when the delivered text needs a cast. The staging models
    rename them with outcome_assessment_columns(); int_outcome_assessments carries every one
    of them from either extract by name. A new measurement is one more entry here. -#}
{% macro outcome_measurements() %}
    {{ return([
        {'column': 'vurderingsdato', 'name': 'assessment_date'},
        {'column': 'tidspunkt', 'name': 'timepoint_day', 'type': 'integer'},
        {'column': 'produkt', 'name': 'product_code'},
        {'column': 'respons', 'name': 'response'},
        {'column': 'crs_grad', 'name': 'crs_grade', 'type': 'integer'},
        {'column': 'crs_debut', 'name': 'crs_onset_date'},
        {'column': 'icans_grad', 'name': 'icans_grade', 'type': 'integer'},
        {'column': 'icans_debut', 'name': 'icans_onset_date'},
        {'column': 'intensiv', 'name': 'icu_admitted'},
        {'column': 'tocilizumab', 'name': 'tocilizumab_given'},
        {'column': 'steroid', 'name': 'corticosteroid_given'},
        {'column': 'faktor_ix_aktivitet', 'name': 'factor_ix_activity_pct'},
        {'column': 'abr', 'name': 'annualised_bleeding_rate'},
        {'column': 'profylakse_genoptaget', 'name': 'prophylaxis_resumed'},
        {'column': 'motor_milepael', 'name': 'motor_milestone'},
        {'column': 'eq5d_index', 'name': 'eq5d_index'},
    ]) }}
{% endmacro %}

{#- The measurements renamed and typed, as select-list items each followed by a comma. -#}
{% macro outcome_assessment_columns() %}
    {%- for m in outcome_measurements() %}
    {{ m.column }}{{ '::' ~ m.type if m.type }}{{ ' as ' ~ m.name if m.name != m.column }},
    {%- endfor %}
{%- endmacro %}

{#- The measurements by their warehouse names, each prefixed with `alias.`, comma-separated. -#}
{% macro outcome_measurement_names(alias) %}
    {%- for m in outcome_measurements() %}
    {{ alias }}.{{ m.name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
