-- The counts reported to Medicinrådet, long: one row per product, indication, measure and
-- period (each treatment year with treatments, and 'total'). Each measure's yearly counts
-- add up to its total, which is what secondary suppression protects. Counts are of
-- patients, not treatments: each person once per product and indication, at their first
-- treatment of it (is_first_treatment; a re-infusion or re-treatment adds no patient and no
-- second death), in the year of that first treatment.
--
-- Rates carry two denominators, and a patient followed for less than a measure's window is
-- in neither (nor in its numerator): the response window closes when the first response
-- timepoint's window does (response_timepoints: day 90 + 30), the ICU window on day 30.
-- Dying inside the window is an outcome, not missing follow-up. response_followed (all
-- treated, followed through the window) counts a patient who died before any assessment as
-- a non-responder; response_evaluable keeps only those of them with an assessment.
with response_window as (
    select min(timepoint_day + window_after_days) as closes_on_day
    from {{ ref('response_timepoints') }}
),

followup as (
    select
        f.*,
        date_part('year', f.index_date)::integer::text as treatment_year,
        (f.os_time_days >= w.closes_on_day or f.os_event = 1) as response_followed
    from {{ ref('int_atmp_followup') }} as f
    cross join response_window as w
    where f.is_first_treatment
),

by_period as (
    select
        *,
        treatment_year as period
    from followup

    union all

    select
        *,
        'total' as period
    from followup
),

measures as (
    select
        product_code,
        indication_group,
        period,
        count(*) as patients_treated,
        sum(os_event) as deaths,
        count(*) filter (where response_followed) as response_followed,
        count(*) filter (
            where response_followed and best_response is not null
        ) as response_evaluable,
        count(*) filter (where response_followed and objective_response) as responders,
        count(*) filter (
            where response_followed and complete_response
        ) as complete_responders,
        count(*) filter (where crs_worst_grade is not null) as toxicity_evaluable,
        count(*) filter (where crs_grade3plus) as crs_grade3plus,
        count(*) filter (where icans_grade3plus) as icans_grade3plus,
        count(*) filter (where icu_30d_evaluable) as icu_30d_evaluable,
        count(*) filter (where icu_within_30d) as icu_30d
    from by_period
    group by product_code, indication_group, period
)

select
    m.product_code,
    m.indication_group,
    c.measure,
    m.period,
    c.n::integer as n
from measures as m
cross join lateral (
    values
    ('patients_treated', m.patients_treated),
    ('deaths', m.deaths),
    ('response_followed', m.response_followed),
    ('response_evaluable', m.response_evaluable),
    ('responders', m.responders),
    ('complete_responders', m.complete_responders),
    ('toxicity_evaluable', m.toxicity_evaluable),
    ('crs_grade3plus', m.crs_grade3plus),
    ('icans_grade3plus', m.icans_grade3plus),
    ('icu_30d_evaluable', m.icu_30d_evaluable),
    ('icu_30d', m.icu_30d)
) as c (measure, n)
