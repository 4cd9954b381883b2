{#- The pre-hook upgrades a table built before settled statuses were kept (a plain table
    without the review columns), so that its settled statuses are kept and reviewed too. -#}
{{ config(
    materialized='incremental',
    unique_key='agreement_status_id',
    incremental_strategy='merge',
    on_schema_change='append_new_columns',
    pre_hook="alter table if exists {{ this }}
        add column if not exists window_close_date date,
        add column if not exists computed_status text,
        add column if not exists settled_cutoff_date date,
        add column if not exists needs_review boolean,
        add column if not exists review_reason text",
) }}
-- Each treatment's status at each milestone of the outcome-based agreement for its product
-- and indication (agreement_terms seed), under the semantics of its criterion
-- (agreement_criteria seed). computed_status is what the data say now, in order:
--   not met        death or one of the criterion's failure events on or before the
--                  milestone (settles at once)
--   pending        the evidence window (milestone - window_before_days to milestone +
--                  window_after_days) has not closed by the cut-off
--   met / not met  by the qualifying evidence nearest the milestone inside the window
--                  (criteria without a measurement: met when followed alive through it)
--   not evaluable  the window closed without evidence (never met)
-- Settled stays settled: incremental, this table keeps the status a milestone settled
-- with (met / not met) for good; when later data disagree, needs_review is raised instead.
-- A milestone whose treatment disappeared from the data is kept and flagged too.
with terms as (
    select * from {{ ref('agreement_terms') }}
),

criteria as (
    select * from {{ ref('agreement_criteria') }}
),

followup as (
    select * from {{ ref('int_atmp_followup') }}
),

measurements as (
    select * from {{ ref('int_agreement_measurements') }}
),

milestones as (
    select
        md5(f.treatment_id || '|' || t.agreement_id || '|' || t.milestone_day::text) as agreement_status_id,
        f.treatment_id,
        f.person_key,
        t.agreement_id,
        t.product_code,
        t.indication_group,
        t.milestone_day,
        t.criterion,
        t.threshold_value,
        t.window_before_days,
        t.window_after_days,
        t.payment_share,
        c.evidence_measure,
        c.qualifies_when,
        c.without_evidence,
        f.index_date + t.milestone_day as evaluation_date,
        f.index_date + t.milestone_day + t.window_after_days as window_close_date,
        f.cutoff_date,
        f.followup_end_date,
        least(
            case when 'death' = any(string_to_array(c.failure_events, '|')) then f.death_date end,
            case when 'progression' = any(string_to_array(c.failure_events, '|')) then f.progression_date end,
            case
                when 'subsequent_therapy' = any(string_to_array(c.failure_events, '|'))
                    then f.subsequent_therapy_date
            end,
            case
                when 'prophylaxis_resumed' = any(string_to_array(c.failure_events, '|'))
                    then f.prophylaxis_resumed_date
            end
        ) as failure_date
    from followup as f
    inner join terms as t
        on
            f.product_code = t.product_code
            and f.indication_group = t.indication_group
    inner join criteria as c
        on t.criterion = c.criterion
),

nearest as (
    select distinct on (m.agreement_status_id)
        m.agreement_status_id,
        x.measure_date,
        case m.qualifies_when
            when 'response' then x.is_response
            when 'not_progression' then not x.is_progression
            when 'at_least_threshold' then x.value_numeric >= m.threshold_value
        end as qualifies
    from milestones as m
    inner join measurements as x
        on
            m.treatment_id = x.treatment_id
            and m.evidence_measure = x.measure
            and x.measure_date between m.evaluation_date - m.window_before_days and m.window_close_date
    order by
        m.agreement_status_id,
        abs(x.measure_date - m.evaluation_date),
        x.measure_date
),

evaluated as (
    select
        m.*,
        case when m.failure_date <= m.evaluation_date then null else n.measure_date end as measure_date,
        case
            when m.failure_date <= m.evaluation_date then 'not met'
            when m.window_close_date > m.cutoff_date then 'pending'
            when m.evidence_measure is null and m.followup_end_date >= m.evaluation_date then 'met'
            when m.evidence_measure is null then m.without_evidence
            when n.qualifies then 'met'
            when not n.qualifies then 'not met'
            else m.without_evidence
        end as computed_status
    from milestones as m
    left join nearest as n
        on m.agreement_status_id = n.agreement_status_id
),

{% if is_incremental() %}
    settled as (
        select *
        from {{ this }}
        where status in ('met', 'not met')
    ),

    disappeared as (
        -- kept as they were, flagged: a settled milestone never silently vanishes
        select
            s.agreement_status_id,
            s.treatment_id,
            s.person_key,
            s.agreement_id,
            s.product_code,
            s.indication_group,
            s.milestone_day,
            s.criterion,
            s.evaluation_date,
            s.window_close_date,
            s.status,
            s.computed_status,
            s.settled_cutoff_date,
            true as needs_review,
            'treatment no longer in the data' as review_reason,
            s.measurement_date,
            s.payment_share,
            s.payment_share_due,
            s.cutoff_date
        from settled as s
        where not exists (
                select 1
                from evaluated as e
                where e.agreement_status_id = s.agreement_status_id
            )
    ),
{% else %}
    settled as (
        select
            null::text as agreement_status_id,
            null::text as status,
            null::date as evaluation_date,
            null::date as measurement_date,
            null::numeric as payment_share_due,
            null::date as settled_cutoff_date
        where false
    ),
{% endif %}

judged as (
    select
        e.agreement_status_id,
        e.treatment_id,
        e.person_key,
        e.agreement_id,
        e.product_code,
        e.indication_group,
        e.milestone_day,
        e.criterion,
        coalesce(s.evaluation_date, e.evaluation_date) as evaluation_date,
        e.window_close_date,
        coalesce(s.status, e.computed_status) as status,
        e.computed_status,
        coalesce(
            s.settled_cutoff_date,
            case when e.computed_status in ('met', 'not met') then e.cutoff_date end
        ) as settled_cutoff_date,
        coalesce(s.status <> e.computed_status, false) as needs_review,
        case
            when s.status <> e.computed_status then 'current data give ' || e.computed_status
        end as review_reason,
        case when s.status is not null then s.measurement_date else e.measure_date end as measurement_date,
        e.payment_share,
        case
            when s.status is not null then s.payment_share_due
            when e.computed_status = 'met' then e.payment_share
            when e.computed_status = 'not met' then 0
        end as payment_share_due,
        e.cutoff_date
    from evaluated as e
    left join settled as s
        on e.agreement_status_id = s.agreement_status_id
),

unioned as (
    select * from judged
    {% if is_incremental() %}
        union all
        select * from disappeared
    {% endif %}
)

select
    agreement_status_id::text as agreement_status_id,
    treatment_id::text as treatment_id,
    person_key::text as person_key,
    agreement_id::text as agreement_id,
    product_code::text as product_code,
    indication_group::text as indication_group,
    milestone_day::integer as milestone_day,
    criterion::text as criterion,
    evaluation_date::date as evaluation_date,
    window_close_date::date as window_close_date,
    status::text as status,
    computed_status::text as computed_status,
    settled_cutoff_date::date as settled_cutoff_date,
    needs_review::boolean as needs_review,
    review_reason::text as review_reason,
    measurement_date::date as measurement_date,
    payment_share::numeric(5, 4) as payment_share,
    payment_share_due::numeric(5, 4) as payment_share_due,
    cutoff_date::date as cutoff_date
from unioned
