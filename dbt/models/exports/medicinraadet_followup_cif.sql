-- Cumulative-incidence curves (Aalen-Johansen, death as the competing risk) for the release.
-- dbt creates the table empty: the release step (src/medicinraadet_release.incidence) fills
-- it with curves whose every rise holds at least as many events as the disclosure
-- threshold, after the audit has passed them.
-- The release reads (in staging, where only engineers can):
-- depends_on: {{ ref('int_atmp_competing_events') }}
select
    null::text as product_code,
    null::text as indication_group,
    null::text as event_type,
    null::integer as time_days,
    null::date as cutoff_date,
    null::numeric(5, 4) as cumulative_incidence,
    null::numeric(5, 4) as ci_lower,
    null::numeric(5, 4) as ci_upper
where false
