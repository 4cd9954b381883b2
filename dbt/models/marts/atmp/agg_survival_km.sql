-- Overall survival per patient: each person's first treatment of a product and indication,
-- followed from that treatment (re-treatments add no subject), in counting-process form
-- (int_survival_segments): a stay abroad takes the patient out of the risk set until return.
with km as (
    {{ kaplan_meier(
        ref('int_survival_segments'),
        ['product_code', 'indication_group'],
        'exit_days',
        'died',
        entry_column='entry_days',
    ) }}
)

select
    product_code::text as product_code,
    indication_group::text as indication_group,
    time_days::integer as time_days,
    n_at_risk::integer as n_at_risk,
    n_events::integer as n_events,
    n_censored::integer as n_censored,
    cumulative_events::integer as cumulative_events,
    survival::double precision as survival,
    ci_lower::double precision as ci_lower,
    ci_upper::double precision as ci_upper,
    greenwood_variance::double precision as greenwood_variance
from km
