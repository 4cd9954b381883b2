{%- set t = var('disclosure_threshold') -%}
-- Every count in exports is blank (dbt leaves them so: the release step fills them after its
-- audit), 0, at least {{ t }}, "<{{ t }}", "≤{{ t - 1 }}" or "x".
{%- set count_columns = {
    'medicinraadet_followup_summary': [
        'patients_treated', 'deaths', 'response_evaluable', 'responders', 'complete_responders',
        'toxicity_evaluable', 'crs_grade3plus', 'icans_grade3plus', 'icu_30d',
    ],
    'medicinraadet_followup_km': ['n_at_risk'],
} %}
{%- for model, columns in count_columns.items() %}
{%- for column in columns %}
select
    '{{ model }}' as export_table,
    '{{ column }}' as count_column,
    {{ column }} as shown
from {{ ref(model) }}
where not (
    {{ column }} is null
    or {{ column }} in ('<{{ t }}', '≤{{ t - 1 }}', 'x')
    or ({{ column }} ~ '^[0-9]+$' and ({{ column }}::integer = 0 or {{ column }}::integer >= {{ t }}))
)
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
