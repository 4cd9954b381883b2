-- One row per patient and reporting period (each person's first treatment of a product and
-- indication, from that treatment): its treatment year, and again under 'total' (all
-- years), so that survival by period is one Kaplan-Meier call.
with followup as (
    select
        product_code,
        indication_group,
        date_part('year', index_date)::integer::text as treatment_year,
        os_time_days,
        os_event
    from {{ ref('int_atmp_followup') }}
    where is_first_treatment
)

select
    product_code,
    indication_group,
    treatment_year as period,
    os_time_days,
    os_event
from followup

union all

select
    product_code,
    indication_group,
    'total' as period,
    os_time_days,
    os_event
from followup
