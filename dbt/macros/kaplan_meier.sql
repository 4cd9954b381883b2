{#- Kaplan-Meier estimate per group, one row per distinct time (plus time 0), computed the
    way lifelines' KaplanMeierFitter does so that the two agree to floating-point noise:

    * n_at_risk(t) = subjects with time >= t; ties: all events at t happen before the
      censorings at t;
    * log S(t) = sum over times u <= t of (ln(n_u - d_u) - ln(n_u)); S = 0 from the first
      time everyone at risk has the event;
    * Greenwood variance of log S: sum of d / (n (n - d)), a term being 0 when d = n;
    * confidence interval by the log(-log) ("exponential Greenwood") transform, with
      v = ln S: exp(-exp(ln(-v) -/+ z sqrt(var) / v)); (1, 1) while S = 1 and (0, 0) once
      S = 0, as lifelines reports them. z is var('km_z'), the exact normal quantile.

    PostgreSQL raises on exp() underflow, so bounds below ~1e-289 are returned as 0.
    relation: a table or view with one row per subject, or with entry_column one row per
    period at risk (counting-process data: a subject may leave and re-enter, e.g. a stay
    abroad); group_columns: list of names. With entries, n_at_risk(t) = rows with
    entry <= t <= time, and entry times are rows of the curve too - lifelines' `entry`. -#}
{% macro kaplan_meier(relation, group_columns, time_column, event_column, entry_column=none) %}
{%- set groups = group_columns | join(', ') -%}
{%- set z = var('km_z') -%}
with km_subjects as (
    select
        {{ groups }},
        {{ entry_column if entry_column else 0 }} as entry_days,
        {{ time_column }} as time_days,
        {{ event_column }} as event
    from {{ relation }}
    where {{ time_column }} is not null
),

km_changes as (
    select
        {{ groups }},
        time_days,
        count(*) as n_removed,
        sum(event) as n_events,
        0 as n_entered
    from km_subjects
    group by {{ groups }}, time_days

    union all

    select
        {{ groups }},
        entry_days as time_days,
        0 as n_removed,
        0 as n_events,
        count(*) as n_entered
    from km_subjects
    group by {{ groups }}, entry_days
),

km_times as (
    select
        {{ groups }},
        time_days,
        sum(n_removed) as n_removed,
        sum(n_events) as n_events,
        sum(n_entered) as n_entered
    from km_changes
    group by {{ groups }}, time_days

    union all

    select
        {{ groups }},
        0 as time_days,
        0 as n_removed,
        0 as n_events,
        0 as n_entered
    from km_subjects
    group by {{ groups }}
    having min(entry_days) > 0 and min(time_days) > 0
),

km_risk as (
    select
        *,
        sum(n_entered) over (
            partition by {{ groups }}
            order by time_days
            rows between unbounded preceding and current row
        )
        - coalesce(sum(n_removed) over (
            partition by {{ groups }}
            order by time_days
            rows between unbounded preceding and 1 preceding
        ), 0) as n_at_risk
    from km_times
),

km_steps as (
    select
        *,
        case
            when n_events < n_at_risk
                then ln((n_at_risk - n_events)::double precision) - ln(n_at_risk::double precision)
            else 0
        end as log_step,
        n_events > 0 and n_events = n_at_risk as reaches_zero,
        case
            when n_events < n_at_risk
                then n_events::double precision / (n_at_risk::double precision * (n_at_risk - n_events))
            else 0
        end as variance_step
    from km_risk
),

km_cumulative as (
    select
        {{ groups }},
        time_days,
        n_at_risk,
        n_events,
        n_removed - n_events as n_censored,
        sum(n_events) over cumulative as cumulative_events,
        bool_or(reaches_zero) over cumulative as reached_zero,
        sum(log_step) over cumulative as log_survival,
        sum(variance_step) over cumulative as greenwood_variance
    from km_steps
    window cumulative as (
        partition by {{ groups }}
        order by time_days
        rows between unbounded preceding and current row
    )
),

km_estimate as (
    select
        *,
        case when reached_zero then 0 else exp(log_survival) end as survival
    from km_cumulative
),

km_bounds as (
    select
        *,
        case
            when survival > 0 and survival < 1
                then ln(-ln(survival)) - {{ z }} * sqrt(greenwood_variance) / ln(survival)
        end as lower_exponent,
        case
            when survival > 0 and survival < 1
                then ln(-ln(survival)) + {{ z }} * sqrt(greenwood_variance) / ln(survival)
        end as upper_exponent
    from km_estimate
)

select
    {{ groups }},
    time_days,
    n_at_risk,
    n_events,
    n_censored,
    cumulative_events,
    survival,
    greenwood_variance,
    case
        when survival >= 1 then 1
        when survival <= 0 then 0
        when lower_exponent > 6.5 then 0
        else exp(-exp(lower_exponent))
    end as ci_lower,
    case
        when survival >= 1 then 1
        when survival <= 0 then 0
        when upper_exponent > 6.5 then 0
        else exp(-exp(upper_exponent))
    end as ci_upper
from km_bounds
{% endmacro %}
