-- Overall survival per patient in counting-process form: each person's first treatment of a
-- product and indication, split at every stay abroad they came back from (no one is at risk
-- while abroad: follow-up is interrupted at emigration and resumed on return). One row per
-- period under follow-up: entry_days, exit_days, and died (1) on the segment that ends in death.
with followup as (
    select * from {{ ref('int_atmp_followup') }}
    where is_first_treatment
),

stays as (
    select
        s.treatment_id,
        s.emigration_date - f.index_date as out_day,
        s.return_date - f.index_date as back_day
    from {{ ref('int_followup_absences') }} as s
    inner join followup as f
        on s.treatment_id = f.treatment_id
    where s.return_date is not null and s.return_date <= f.followup_end_date
),

boundaries as (
    -- segment starts: day 0 and each return; each ends at the next emigration or the end
    select
        f.treatment_id,
        0 as entry_days
    from followup as f

    union all

    select
        treatment_id,
        back_day as entry_days
    from stays
),

segments as (
    select
        b.treatment_id,
        b.entry_days,
        coalesce(
            (
                select min(s.out_day)
                from stays as s
                where s.treatment_id = b.treatment_id and s.out_day >= b.entry_days
            ),
            f.os_time_days
        ) as exit_days,
        f.os_time_days,
        f.os_event
    from boundaries as b
    inner join followup as f
        on b.treatment_id = f.treatment_id
)

select
    s.treatment_id,
    f.product_code,
    f.indication_group,
    s.entry_days,
    s.exit_days,
    case when s.exit_days = s.os_time_days then s.os_event else 0 end as died
from segments as s
inner join followup as f
    on s.treatment_id = f.treatment_id
