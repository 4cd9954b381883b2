{%- set t = var('disclosure_threshold') -%}
{%- set measures = [
    'patients_treated', 'deaths', 'response_evaluable', 'responders', 'complete_responders',
    'toxicity_evaluable', 'crs_grade3plus', 'icans_grade3plus', 'icu_30d',
] -%}
{%- set rates = [
    ('response_rate', 'responders', 'response_evaluable'),
    ('complete_response_rate', 'complete_responders', 'response_evaluable'),
    ('crs_grade3plus_rate', 'crs_grade3plus', 'toxicity_evaluable'),
    ('icans_grade3plus_rate', 'icans_grade3plus', 'toxicity_evaluable'),
    ('icu_30d_rate', 'icu_30d', 'patients_treated'),
] -%}
-- Counts as text after disclosure control ("<{{ t }}" small, "x" hidden to protect another
-- cell). A rate is given only when its numerator and denominator are both shown. Overall
-- survival is given when at least {{ t }} patients were treated, the horizon was reached
-- and no small number of deaths (1 to {{ t }} - 1) lies behind the estimate.
with cells as (
    select * from {{ ref('int_medicinraadet_cells') }}
),

pivoted as (
    select
        product_code,
        indication_group,
        period,
        {%- for m in measures %}
            max(display_value) filter (where measure = '{{ m }}') as {{ m }},
            max(n) filter (where measure = '{{ m }}' and suppression is null) as {{ m }}_shown,
        {%- endfor %}
        max(n) filter (where measure = 'patients_treated') as patients_n
    from cells
    group by product_code, indication_group, period
),

survival as (
    select
        *,
        patients >= {{ t }}
        and horizon_reached
        and (cumulative_events = 0 or cumulative_events >= {{ t }}) as publishable
    from {{ ref('int_medicinraadet_survival') }}
),

indications as (
    select * from {{ ref('atmp_indications') }}
),

products as (
    select * from {{ ref('atmp_products') }}
),

cutoff as (
    select cutoff_date from {{ ref('int_data_cutoff') }}
)

select
    p.product_code::text as product_code,
    pr.product_name::text as product_name,
    p.indication_group::text as indication_group,
    coalesce(i.indication_label, 'Unknown indication')::text as indication_label,
    p.period::text as period,
    c.cutoff_date::date as cutoff_date,
    {%- for m in measures %}
        p.{{ m }}::text as {{ m }},
    {%- endfor %}
    {%- for name, numerator, denominator in rates %}
        case
            when p.{{ denominator }}_shown > 0 and p.{{ numerator }}_shown is not null
                then round(p.{{ numerator }}_shown::numeric / p.{{ denominator }}_shown, 3)
        end::numeric(4, 3) as {{ name }},
    {%- endfor %}
{%- for label, horizon in [('os_1y', 365), ('os_2y', 730)] %}
    {%- set s = 's' ~ horizon %}
    {%- set last_horizon = loop.last %}
{%- for column, suffix in [('survival', ''), ('ci_lower', '_ci_lower'), ('ci_upper', '_ci_upper')] %}
    case
        when {{ s }}.publishable then round({{ s }}.{{ column }}::numeric, 3)
    end::numeric(4, 3) as {{ label }}{{ suffix }}{{ "," if not (loop.last and last_horizon) }}
{%- endfor %}
{%- endfor %}
from pivoted as p
cross join cutoff as c
inner join products as pr
    on p.product_code = pr.product_code
left join indications as i
    on
        p.product_code = i.product_code
        and p.indication_group = i.indication_group
left join survival as s365
    on
        p.product_code = s365.product_code
        and p.indication_group = s365.indication_group
        and p.period = s365.period
        and s365.horizon_day = 365
left join survival as s730
    on
        p.product_code = s730.product_code
        and p.indication_group = s730.indication_group
        and p.period = s730.period
        and s730.horizon_day = 730
