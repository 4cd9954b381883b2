-- The counts reported to Medicinrådet, long: one row per product, indication, measure and
-- period (each treatment year with treatments, and 'total'). Each measure's yearly counts
-- add up to its total, which is what secondary suppression protects. Counts are of
-- patients, not treatments: each person once per product and indication, at their first
-- treatment of it (is_first_treatment; a re-infusion or re-treatment adds no patient and no
-- second death), in the year of that first treatment.
with followup as (
    select
        *,
        date_part('year', index_date)::integer::text as treatment_year
    from {{ ref('int_atmp_followup') }}
    where is_first_treatment
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
        count(*) filter (where best_response is not null) as response_evaluable,
        count(*) filter (where objective_response) as responders,
        count(*) filter (where complete_response) as complete_responders,
        count(*) filter (where crs_worst_grade is not null) as toxicity_evaluable,
        count(*) filter (where crs_grade3plus) as crs_grade3plus,
        count(*) filter (where icans_grade3plus) as icans_grade3plus,
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
    ('response_evaluable', m.response_evaluable),
    ('responders', m.responders),
    ('complete_responders', m.complete_responders),
    ('toxicity_evaluable', m.toxicity_evaluable),
    ('crs_grade3plus', m.crs_grade3plus),
    ('icans_grade3plus', m.icans_grade3plus),
    ('icu_30d', m.icu_30d)
) as c (measure, n)
