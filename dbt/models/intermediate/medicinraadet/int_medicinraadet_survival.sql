-- Overall survival at 1 and 2 years per product, indication and period, read off the
-- Kaplan-Meier curve (the last step at or before the horizon). horizon_reached is false
-- when nobody was followed that long and the curve has not reached 0.
with km as (
    {{ kaplan_meier(
        ref('int_survival_subjects'),
        ['product_code', 'indication_group', 'period'],
        'os_time_days',
        'os_event',
    ) }}
),

subjects as (
    select
        product_code,
        indication_group,
        period,
        count(*) as patients,
        max(os_time_days) as max_time_days
    from {{ ref('int_survival_subjects') }}
    group by product_code, indication_group, period
),

horizons as (
    select horizon_day
    from (values (365), (730)) as h (horizon_day)
),

at_horizon as (
    select distinct on (k.product_code, k.indication_group, k.period, h.horizon_day)
        k.product_code,
        k.indication_group,
        k.period,
        h.horizon_day,
        k.survival,
        k.ci_lower,
        k.ci_upper,
        k.cumulative_events
    from km as k
    inner join horizons as h
        on k.time_days <= h.horizon_day
    order by k.product_code asc, k.indication_group asc, k.period asc, h.horizon_day asc, k.time_days desc
)

select
    s.product_code,
    s.indication_group,
    s.period,
    a.horizon_day,
    s.patients,
    a.cumulative_events,
    a.survival,
    a.ci_lower,
    a.ci_upper,
    s.max_time_days >= a.horizon_day or a.survival = 0 as horizon_reached
from subjects as s
inner join at_horizon as a
    on
        s.product_code = a.product_code
        and s.indication_group = a.indication_group
        and s.period = a.period
