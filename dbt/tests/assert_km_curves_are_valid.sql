-- Survival lies in [0, 1], inside its confidence interval, and never rises over time.
select
    product_code,
    indication_group,
    time_days,
    survival,
    ci_lower,
    ci_upper
from (
    select
        *,
        lag(survival) over (
            partition by product_code, indication_group order by time_days
        ) as previous_survival
    from {{ ref('agg_survival_km') }}
) as km
where
    survival < 0
    or survival > 1
    or ci_lower > survival + 1e-12
    or ci_upper < survival - 1e-12
    or survival > previous_survival + 1e-12
