{#- Aalen-Johansen cumulative incidence of an event (code 1) with a competing event (code 2)
    per group, one row per distinct time (plus time 0); code 0 is censored. At each time t
    with n at risk (time >= t), d1 events, d2 competing events and d = d1 + d2:

    * S(t-) = product over u < t of (1 - d_u / n_u): all-cause Kaplan-Meier just before t;
    * F(t) = sum over u <= t of S(u-) d1_u / n_u (tied times handled exactly, no jitter);
    * variance by the delta method (Greenwood-type; Marubini & Valsecchi 1995, Choudhury 2002):
        sum over u <= t of  [F(t) - F(u)]^2 d_u / (n_u (n_u - d_u))
                          + S(u-)^2 d1_u (n_u - d1_u) / n_u^3
                          - 2 [F(t) - F(u)] S(u-) d1_u / n_u^2,
      a first term being 0 when d_u = n_u; expanded into running sums so that it is one pass;
    * 95 % CI by the log(-log) transform: exp(-exp(ln(-ln F) -/+ z sqrt(var) / (F ln F))),
      (0, 0) while F = 0 and (1, 1) at F = 1. z is var('km_z').

    relation: one row per subject; group_columns: list of names. -#}
{% macro aalen_johansen(relation, group_columns, time_column, code_column) %}
{%- set groups = group_columns | join(', ') -%}
{%- set z = var('km_z') -%}
with aj_subjects as (
    select
        {{ groups }},
        {{ time_column }} as time_days,
        {{ code_column }} as event_code
    from {{ relation }}
    where {{ time_column }} is not null
),

aj_times as (
    select
        {{ groups }},
        time_days,
        count(*) as n_removed,
        count(*) filter (where event_code = 1) as n_events,
        count(*) filter (where event_code = 2) as n_competing
    from aj_subjects
    group by {{ groups }}, time_days

    union all

    select
        {{ groups }},
        0 as time_days,
        0 as n_removed,
        0 as n_events,
        0 as n_competing
    from aj_subjects
    group by {{ groups }}
    having min(time_days) > 0
),

aj_risk as (
    select
        *,
        sum(n_removed) over (
            partition by {{ groups }}
            order by time_days desc
            rows between unbounded preceding and current row
        ) as n_at_risk
    from aj_times
),

aj_steps as (
    select
        *,
        n_events + n_competing as n_any,
        case
            when n_events + n_competing < n_at_risk
                then ln((n_at_risk - n_events - n_competing)::double precision) - ln(n_at_risk::double precision)
            else 0
        end as log_step,
        n_events + n_competing > 0 and n_events + n_competing = n_at_risk as reaches_zero
    from aj_risk
),

aj_before as (
    -- all-cause survival just before each time
    select
        *,
        case
            when coalesce(bool_or(reaches_zero) over preceding_rows, false) then 0
            else exp(coalesce(sum(log_step) over preceding_rows, 0))
        end as survival_before
    from aj_steps
    window preceding_rows as (
        partition by {{ groups }}
        order by time_days
        rows between unbounded preceding and 1 preceding
    )
),

aj_incidence as (
    select
        *,
        sum(survival_before * n_events / n_at_risk::double precision) over cumulative as incidence
    from aj_before
    window cumulative as (
        partition by {{ groups }}
        order by time_days
        rows between unbounded preceding and current row
    )
),

aj_terms as (
    select
        *,
        case
            when n_any < n_at_risk
                then n_any::double precision / (n_at_risk::double precision * (n_at_risk - n_any))
            else 0
        end as a_term,
        survival_before ^ 2 * n_events * (n_at_risk - n_events) / (n_at_risk::double precision ^ 3) as b_term,
        survival_before * n_events / (n_at_risk::double precision ^ 2) as c_term
    from aj_incidence
),

aj_sums as (
    select
        {{ groups }},
        time_days,
        n_at_risk,
        n_events,
        n_competing,
        n_removed - n_any as n_censored,
        incidence,
        sum(a_term) over cumulative as sum_a,
        sum(incidence * a_term) over cumulative as sum_fa,
        sum(incidence ^ 2 * a_term) over cumulative as sum_ffa,
        sum(b_term) over cumulative as sum_b,
        sum(c_term) over cumulative as sum_c,
        sum(incidence * c_term) over cumulative as sum_fc
    from aj_terms
    window cumulative as (
        partition by {{ groups }}
        order by time_days
        rows between unbounded preceding and current row
    )
),

aj_variance as (
    select
        *,
        greatest(
            incidence ^ 2 * sum_a - 2 * incidence * sum_fa + sum_ffa
            + sum_b
            - 2 * incidence * sum_c + 2 * sum_fc,
            0
        ) as variance
    from aj_sums
),

aj_bounds as (
    select
        *,
        case
            when incidence > 0 and incidence < 1
                then ln(-ln(incidence)) - {{ z }} * sqrt(variance) / (incidence * ln(incidence))
        end as lower_exponent,
        case
            when incidence > 0 and incidence < 1
                then ln(-ln(incidence)) + {{ z }} * sqrt(variance) / (incidence * ln(incidence))
        end as upper_exponent
    from aj_variance
)

select
    {{ groups }},
    time_days,
    n_at_risk,
    n_events,
    n_competing,
    n_censored,
    incidence as cumulative_incidence,
    variance,
    case
        when incidence >= 1 then 1
        when incidence <= 0 then 0
        when lower_exponent > 6.5 then 0
        else exp(-exp(lower_exponent))
    end as ci_lower,
    case
        when incidence >= 1 then 1
        when incidence <= 0 then 0
        when upper_exponent > 6.5 then 0
        else exp(-exp(upper_exponent))
    end as ci_upper
from aj_bounds
{% endmacro %}
