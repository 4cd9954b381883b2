{%- set t = var('disclosure_threshold') -%}
-- The overall-survival curve every 30 days, for the report's Kaplan-Meier plots. Only
-- product/indication groups with at least {{ t }} patients; a point's estimate is given
-- only when the deaths behind it number 0 or at least {{ t }}, and numbers at risk below
-- {{ t }} are shown as "<{{ t }}".
with subjects as (
    select
        product_code,
        indication_group,
        os_time_days
    from {{ ref('fct_atmp_followup') }}
),

km as (
    select * from {{ ref('agg_survival_km') }}
),

groups as (
    select
        product_code,
        indication_group,
        max(os_time_days) as max_time_days
    from subjects
    group by product_code, indication_group
    having count(*) >= {{ t }}
),

grid as (
    select
        g.product_code,
        g.indication_group,
        d.time_days
    from groups as g
    cross join lateral generate_series(0, g.max_time_days, 30) as d (time_days)
),

at_day as (
    select distinct on (g.product_code, g.indication_group, g.time_days)
        g.product_code,
        g.indication_group,
        g.time_days,
        k.survival,
        k.ci_lower,
        k.ci_upper,
        k.cumulative_events = 0 or k.cumulative_events >= {{ t }} as publishable
    from grid as g
    inner join km as k
        on
            g.product_code = k.product_code
            and g.indication_group = k.indication_group
            and g.time_days >= k.time_days
    order by g.product_code asc, g.indication_group asc, g.time_days asc, k.time_days desc
),

at_risk as (
    select
        g.product_code,
        g.indication_group,
        g.time_days,
        count(*) as n_at_risk
    from grid as g
    inner join subjects as s
        on
            g.product_code = s.product_code
            and g.indication_group = s.indication_group
            and g.time_days <= s.os_time_days
    group by g.product_code, g.indication_group, g.time_days
),

cutoff as (
    select cutoff_date from {{ ref('int_data_cutoff') }}
)

select
    a.product_code::text as product_code,
    a.indication_group::text as indication_group,
    a.time_days::integer as time_days,
    c.cutoff_date::date as cutoff_date,
    case
        when r.n_at_risk < {{ t }} then '<{{ t }}'
        else r.n_at_risk::text
    end::text as n_at_risk,
    case when a.publishable then round(a.survival::numeric, 4) end::numeric(5, 4) as survival,
    case when a.publishable then round(a.ci_lower::numeric, 4) end::numeric(5, 4) as ci_lower,
    case when a.publishable then round(a.ci_upper::numeric, 4) end::numeric(5, 4) as ci_upper
from at_day as a
cross join cutoff as c
inner join at_risk as r
    on
        a.product_code = r.product_code
        and a.indication_group = r.indication_group
        and a.time_days = r.time_days
