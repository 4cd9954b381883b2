-- Each treatment's status at each milestone of the outcome-based agreement for its product
-- and indication (agreement_terms seed). In order:
--   not met        death, or the criterion's failure event (progression or new therapy;
--                  return to prophylaxis), on or before the milestone
--   not evaluable  follow-up ended before the milestone by emigration or loss to follow-up
--   pending        milestone after the cut-off; or its measurement may still arrive
--                  (milestone + assessment window after the cut-off)
--   met / not met  by the measurement nearest the milestone within the assessment window
--                  (criteria needing none: met when alive and event-free)
--   not evaluable  no measurement in the window, and the window has closed
-- An unknown criterion leaves the status null, which the accepted_values test rejects.
with terms as (
    select * from {{ ref('agreement_terms') }}
),

followup as (
    select * from {{ ref('int_atmp_followup') }}
),

measurements as (
    select * from {{ ref('int_agreement_measurements') }}
),

milestones as (
    select
        f.treatment_id,
        f.person_key,
        t.agreement_id,
        t.product_code,
        t.indication_group,
        t.milestone_day,
        t.criterion,
        t.threshold_value,
        t.assessment_window_days,
        t.payment_share,
        f.index_date + t.milestone_day as evaluation_date,
        f.cutoff_date,
        f.followup_end_date,
        f.followup_end_reason,
        f.death_date,
        case t.criterion
            when 'alive_in_response' then least(f.progression_date, f.subsequent_therapy_date)
            when 'alive_progression_free' then least(f.progression_date, f.subsequent_therapy_date)
            when 'factor_ix_no_prophylaxis' then f.prophylaxis_resumed_date
        end as failure_date,
        case t.criterion
            when 'alive_in_response' then 'response'
            when 'factor_ix_no_prophylaxis' then 'factor_ix'
        end as required_measure
    from followup as f
    inner join terms as t
        on
            f.product_code = t.product_code
            and f.indication_group = t.indication_group
),

nearest as (
    select distinct on (m.treatment_id, m.agreement_id, m.milestone_day)
        m.treatment_id,
        m.agreement_id,
        m.milestone_day,
        x.measure_date,
        case
            when m.required_measure = 'factor_ix' then x.value_numeric >= m.threshold_value
            else x.is_response
        end as meets_criterion
    from milestones as m
    inner join measurements as x
        on
            m.treatment_id = x.treatment_id
            and m.required_measure = x.measure
            and abs(x.measure_date - m.evaluation_date) <= m.assessment_window_days
    order by
        m.treatment_id,
        m.agreement_id,
        m.milestone_day,
        abs(x.measure_date - m.evaluation_date),
        x.measure_date
),

evaluated as (
    select
        m.*,
        n.measure_date,
        case
            when m.death_date <= m.evaluation_date then 'not met'
            when m.failure_date <= m.evaluation_date then 'not met'
            when
                m.followup_end_reason in ('emigration', 'lost_to_followup')
                and m.followup_end_date < m.evaluation_date
                then 'not evaluable'
            when m.evaluation_date > m.cutoff_date then 'pending'
            when m.criterion in ('alive', 'alive_progression_free') then 'met'
            when m.required_measure is null then null
            when n.meets_criterion then 'met'
            when not n.meets_criterion then 'not met'
            when m.evaluation_date + m.assessment_window_days > m.cutoff_date then 'pending'
            else 'not evaluable'
        end as status
    from milestones as m
    left join nearest as n
        on
            m.treatment_id = n.treatment_id
            and m.agreement_id = n.agreement_id
            and m.milestone_day = n.milestone_day
)

select
    md5(treatment_id || '|' || agreement_id || '|' || milestone_day::text)::text as agreement_status_id,
    treatment_id::text as treatment_id,
    person_key::text as person_key,
    agreement_id::text as agreement_id,
    product_code::text as product_code,
    indication_group::text as indication_group,
    milestone_day::integer as milestone_day,
    criterion::text as criterion,
    evaluation_date::date as evaluation_date,
    status::text as status,
    measure_date::date as measurement_date,
    payment_share::numeric(5, 4) as payment_share,
    case
        when status = 'met' then payment_share
        when status = 'not met' then 0
    end::numeric(5, 4) as payment_share_due,
    cutoff_date::date as cutoff_date
from evaluated
