-- One row per treatment (not per patient: is_first_treatment marks each patient's first
-- treatment of a product and indication, the unit Medicinrådet counts and survival curves
-- use) with its time-to-event outcomes and milestone status: overall and
-- event-free survival, best and timed responses, toxicity, intensive care, readmissions,
-- supportive and subsequent therapy, factor IX activity at its milestones. Read by the
-- fct_atmp_followup mart (which publishes it under a contract), by agg_survival_km and
-- fct_outcome_agreement_status, and by the Medicinrådet export preparation.
with treatments as (
    select * from {{ ref('int_atmp_treatments') }}
),

indication as (
    select * from {{ ref('int_treatment_indication') }}
),

windows as (
    select * from {{ ref('int_atmp_followup_window') }}
),

events as (
    select * from {{ ref('int_followup_events') }}
),

assessments as (
    select * from {{ ref('int_outcome_assessments') }}
),

severe as (
    select * from {{ ref('toxicity_grades') }}
),

event_summary as (
    select
        treatment_id,
        min(event_date) filter (where event_type = 'progression') as progression_date,
        min(event_date) filter (where event_type = 'subsequent_therapy') as subsequent_therapy_date,
        min(event_date) filter (where event_type = 'prophylaxis_resumed') as prophylaxis_resumed_date,
        min(days_from_index) filter (where event_type = 'icu_admission') as icu_first_day,
        count(*) filter (where event_type = 'readmission') as readmissions_90d,
        min(event_date) filter (where event_type = 'ivig') as ivig_first_date,
        bool_or(event_type = 'tocilizumab') as tocilizumab_registry,
        bool_or(event_type = 'corticosteroid') as corticosteroid_registry,
        bool_or(event_type = 'infection') as infection_within_365d,
        bool_or(event_type = 'prolonged_cytopenia') as prolonged_cytopenia,
        bool_or(event_type = 'hypogammaglobulinaemia') as hypogammaglobulinaemia,
        bool_or(event_type = 'secondary_malignancy') as secondary_malignancy
    from events
    group by treatment_id
),

response_censoring as (
    -- responses count up to and including the first progression, and before a new
    -- anti-cancer therapy or the person's next ATMP (their response is no longer this
    -- treatment's)
    select
        t.treatment_id,
        e.progression_date,
        least(
            e.subsequent_therapy_date,
            lead(t.treatment_date) over (partition by t.person_key order by t.treatment_date, t.treatment_id)
        ) as next_therapy_date
    from treatments as t
    left join event_summary as e
        on t.treatment_id = e.treatment_id
),

attributable as (
    select a.*
    from assessments as a
    inner join response_censoring as c
        on a.treatment_id = c.treatment_id
    where
        (c.progression_date is null or a.assessment_date <= c.progression_date)
        and (c.next_therapy_date is null or a.assessment_date < c.next_therapy_date)
),

timepoint_responses as (
    -- the ranked response nearest each timepoint inside its window (response_timepoints seed)
    select distinct on (a.treatment_id, p.timepoint_day)
        a.treatment_id,
        p.timepoint_day,
        a.response
    from attributable as a
    inner join {{ ref('response_timepoints') }} as p
        on a.days_from_index between p.timepoint_day - p.window_before_days and p.timepoint_day + p.window_after_days
    where a.response_rank is not null
    order by a.treatment_id, p.timepoint_day, abs(a.days_from_index - p.timepoint_day), a.assessment_date
),

best_responses as (
    select
        treatment_id,
        (
            array_agg(response order by response_rank, assessment_date)
            filter (where response_rank is not null)
        )[1
        ] as best_response,
        (
            array_agg(days_from_index order by response_rank, assessment_date)
            filter (where response_rank is not null)
        )[1
        ] as best_response_day,
        bool_or(is_response) as objective_response,
        bool_or(is_complete_response) as complete_response
    from attributable
    group by treatment_id
),

timepoints as (
    select
        treatment_id,
        max(response) filter (where timepoint_day = 90) as response_day_90,
        max(response) filter (where timepoint_day = 180) as response_day_180,
        max(response) filter (where timepoint_day = 365) as response_day_365
    from timepoint_responses
    group by treatment_id
),

assessment_summary as (
    -- toxicity from every assessment; an ICU flag only from assessments dated day 0-30
    select
        treatment_id,
        max(crs_grade) as crs_worst_grade,
        min(crs_onset_date) filter (where crs_grade > 0) as crs_onset_date,
        max(icans_grade) as icans_worst_grade,
        min(icans_onset_date) filter (where icans_grade > 0) as icans_onset_date,
        bool_or(icu_admitted) filter (where days_from_index between 0 and 30) as icu_reported,
        bool_or(tocilizumab_given) as tocilizumab_reported,
        bool_or(corticosteroid_given) as corticosteroid_reported
    from assessments
    group by treatment_id
),

factor_ix as (
    -- the measurement nearest each milestone, within 60 days of it
    select
        treatment_id,
        milestone_day,
        value_numeric
    from (
        select
            e.treatment_id,
            m.milestone_day,
            e.value_numeric,
            row_number() over (
                partition by e.treatment_id, m.milestone_day
                order by abs(e.days_from_index - m.milestone_day), e.source_name, e.event_id
            ) as nearness
        from events as e
        cross join (values (180), (365), (730)) as m (milestone_day)
        where
            e.event_type = 'factor_ix_activity'
            and abs(e.days_from_index - m.milestone_day) <= 60
    ) as candidates
    where nearness = 1
),

combined as (
    select
        w.*,
        t.product_code,
        t.therapy_class,
        t.treatment_number,
        t.atmp_line,
        i.indication_group,
        i.response_scale,
        e.progression_date,
        e.subsequent_therapy_date,
        e.prophylaxis_resumed_date,
        e.icu_first_day,
        e.readmissions_90d,
        e.ivig_first_date,
        e.tocilizumab_registry,
        e.corticosteroid_registry,
        e.infection_within_365d,
        e.prolonged_cytopenia,
        e.hypogammaglobulinaemia,
        e.secondary_malignancy,
        b.best_response,
        b.best_response_day,
        b.objective_response,
        b.complete_response,
        p.response_day_90,
        p.response_day_180,
        p.response_day_365,
        a.crs_worst_grade,
        a.crs_onset_date,
        a.icans_worst_grade,
        a.icans_onset_date,
        a.icu_reported,
        a.tocilizumab_reported,
        a.corticosteroid_reported,
        least(
            e.progression_date, e.subsequent_therapy_date, e.prophylaxis_resumed_date, w.death_date
        ) as efs_event_date
    from windows as w
    inner join treatments as t
        on w.treatment_id = t.treatment_id
    inner join indication as i
        on w.treatment_id = i.treatment_id
    left join event_summary as e
        on w.treatment_id = e.treatment_id
    left join assessment_summary as a
        on w.treatment_id = a.treatment_id
    left join best_responses as b
        on w.treatment_id = b.treatment_id
    left join timepoints as p
        on w.treatment_id = p.treatment_id
)

select
    c.treatment_id::text as treatment_id,
    c.person_key::text as person_key,
    c.product_code::text as product_code,
    c.therapy_class::text as therapy_class,
    c.indication_group::text as indication_group,
    c.treatment_number::integer as treatment_number,
    c.atmp_line::integer as atmp_line,
    (row_number() over (
        partition by c.person_key, c.product_code, c.indication_group
        order by c.index_date, c.treatment_id
    ) = 1)::boolean as is_first_treatment,
    c.response_scale::text as response_scale,
    c.index_date::date as index_date,
    c.cutoff_date::date as cutoff_date,
    c.followup_end_date::date as followup_end_date,
    c.followup_end_reason::text as followup_end_reason,
    c.death_date::date as death_date,
    c.emigration_date::date as emigration_date,
    c.absences::integer as absences,
    c.days_abroad::integer as days_abroad,
    c.os_time_days::integer as os_time_days,
    c.os_event::integer as os_event,
    (coalesce(c.efs_event_date, c.followup_end_date) - c.index_date)::integer as efs_time_days,
    (c.efs_event_date is not null)::integer as efs_event,
    case
        when c.efs_event_date is null then null
        when c.efs_event_date = c.progression_date then 'progression'
        when c.efs_event_date = c.subsequent_therapy_date then 'subsequent_therapy'
        when c.efs_event_date = c.prophylaxis_resumed_date then 'prophylaxis_resumed'
        else 'death'
    end::text as efs_event_type,
    c.progression_date::date as progression_date,
    c.best_response::text as best_response,
    (c.best_response is not null)::boolean as response_evaluable,
    c.best_response_day::integer as best_response_day,
    c.objective_response::boolean as objective_response,
    c.complete_response::boolean as complete_response,
    c.response_day_90::text as response_day_90,
    c.response_day_180::text as response_day_180,
    c.response_day_365::text as response_day_365,
    c.crs_worst_grade::integer as crs_worst_grade,
    (c.crs_onset_date - c.index_date)::integer as crs_onset_day,
    c.icans_worst_grade::integer as icans_worst_grade,
    (c.icans_onset_date - c.index_date)::integer as icans_onset_day,
    coalesce(crs.is_severe, false)::boolean as crs_grade3plus,
    coalesce(icans.is_severe, false)::boolean as icans_grade3plus,
    (c.icu_first_day is not null or coalesce(c.icu_reported, false))::boolean as icu_within_30d,
    (c.os_time_days >= 30 or c.os_event = 1 or c.icu_first_day is not null or coalesce(c.icu_reported, false))::boolean
        as icu_30d_evaluable,
    c.icu_first_day::integer as icu_first_day,
    coalesce(c.readmissions_90d, 0)::integer as readmissions_90d,
    (c.ivig_first_date is not null)::boolean as ivig_used,
    c.ivig_first_date::date as ivig_first_date,
    (coalesce(c.tocilizumab_registry, false) or coalesce(c.tocilizumab_reported, false))::boolean as tocilizumab_used,
    (coalesce(c.corticosteroid_registry, false) or coalesce(c.corticosteroid_reported, false))::boolean
        as corticosteroid_used,
    coalesce(c.infection_within_365d, false)::boolean as infection_within_365d,
    coalesce(c.prolonged_cytopenia, false)::boolean as prolonged_cytopenia,
    coalesce(c.hypogammaglobulinaemia, false)::boolean as hypogammaglobulinaemia,
    coalesce(c.secondary_malignancy, false)::boolean as secondary_malignancy,
    (c.subsequent_therapy_date is not null)::boolean as subsequent_therapy,
    c.subsequent_therapy_date::date as subsequent_therapy_date,
    case when c.response_scale = 'factor_ix' then fix180.value_numeric end::numeric(7, 2) as factor_ix_day_180,
    case when c.response_scale = 'factor_ix' then fix365.value_numeric end::numeric(7, 2) as factor_ix_day_365,
    case when c.response_scale = 'factor_ix' then fix730.value_numeric end::numeric(7, 2) as factor_ix_day_730,
    case
        when c.response_scale = 'factor_ix' then c.prophylaxis_resumed_date is not null
    end::boolean as prophylaxis_resumed,
    c.prophylaxis_resumed_date::date as prophylaxis_resumed_date
from combined as c
left join severe as crs
    on crs.toxicity = 'crs' and c.crs_worst_grade = crs.grade
left join severe as icans
    on icans.toxicity = 'icans' and c.icans_worst_grade = icans.grade
left join factor_ix as fix180
    on c.treatment_id = fix180.treatment_id and fix180.milestone_day = 180
left join factor_ix as fix365
    on c.treatment_id = fix365.treatment_id and fix365.milestone_day = 365
left join factor_ix as fix730
    on c.treatment_id = fix730.treatment_id and fix730.milestone_day = 730
