-- Overall-survival curves for the release report. dbt creates the table empty: the release
-- step (src/medicinraadet_release.curves) fills it with curves whose every drop holds at
-- least as many deaths as the disclosure threshold, after the audit has passed them.
select
    null::text as product_code,
    null::text as indication_group,
    null::integer as time_days,
    null::date as cutoff_date,
    null::text as n_at_risk,
    null::numeric(5, 4) as survival,
    null::numeric(5, 4) as ci_lower,
    null::numeric(5, 4) as ci_upper
where false
