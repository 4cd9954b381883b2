-- Cumulative incidence per product, indication and event type, with death (or, for
-- non-relapse mortality, relapse/progression) as the competing risk: the Aalen-Johansen
-- estimator, computed in SQL (macro aalen_johansen) from the same rows as
-- fct_atmp_competing_events.
with cif as (
    {{ aalen_johansen(
        ref('int_atmp_competing_events'),
        ['product_code', 'indication_group', 'event_type'],
        'time_days',
        'event_code',
    ) }}
)

select
    product_code::text as product_code,
    indication_group::text as indication_group,
    event_type::text as event_type,
    time_days::integer as time_days,
    n_at_risk::integer as n_at_risk,
    n_events::integer as n_events,
    n_competing::integer as n_competing,
    n_censored::integer as n_censored,
    cumulative_incidence::double precision as cumulative_incidence,
    ci_lower::double precision as ci_lower,
    ci_upper::double precision as ci_upper,
    variance::double precision as variance
from cif
