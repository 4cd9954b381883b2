-- Every dated follow-up event of every treatment, within its observation window (index date
-- to end of follow-up). Which registry codes make which event, and in which window of days
-- after the index date, is data: the outcome_definitions and diagnosis_groups seeds, matched
-- against the treated persons' coded registry records (int_coded_records).
-- source_record_id names the registry row behind the event, so each event is traceable.
with windows as (
    select
        w.treatment_id,
        w.person_key,
        w.index_date,
        w.followup_end_date,
        w.followup_end_reason,
        w.death_date,
        w.death_source,
        w.emigration_date,
        t.product_code
    from {{ ref('int_atmp_followup_window') }} as w
    inner join {{ ref('int_atmp_treatments') }} as t
        on w.treatment_id = t.treatment_id
),

definitions as (
    select * from {{ ref('outcome_definitions') }}
),

atmp_administrations as (
    select
        w.treatment_id,
        'atmp_administration' as event_type,
        a.administration_date as event_date,
        'sygehusmedicin' as source_name,
        a.atc_code as code,
        null::numeric as value_numeric,
        a.administration_id as source_record_id
    from windows as w
    inner join {{ ref('int_atmp_administrations') }} as a
        on
            w.person_key = a.person_key
            and w.product_code = a.product_code
            and w.index_date = a.episode_start_date
    where a.administration_date <= w.followup_end_date
),

end_of_followup as (
    select
        treatment_id,
        case followup_end_reason
            when 'death' then 'death'
            when 'emigration' then 'emigration'
            when 'lost_to_followup' then 'lost_to_followup'
        end as event_type,
        followup_end_date as event_date,
        case when followup_end_reason = 'death' then death_source else 'cpr' end as source_name,
        null::text as code,
        null::numeric as value_numeric,
        person_key as source_record_id
    from windows
    where followup_end_reason <> 'cutoff'
),

coded_records as (
    select * from {{ ref('int_coded_records') }}
),

index_admissions as (
    -- the hospital stay spanning the treatment date; readmissions start after its discharge
    select
        w.treatment_id,
        max(c.end_date) as discharge_date
    from windows as w
    inner join {{ ref('int_treated_contacts') }} as c
        on
            w.person_key = c.person_key
            and w.index_date >= c.start_date
            and w.index_date <= c.end_date
    group by w.treatment_id
),

coded_events as (
    -- registry records matching an outcome definition, within the definition's window of
    -- days after the index date; one event per registry row and outcome
    select
        w.treatment_id,
        d.outcome_id as event_type,
        r.record_date as event_date,
        r.source_name,
        min(r.code) as code,
        min(r.value_numeric) as value_numeric,
        r.source_record_id
    from windows as w
    inner join coded_records as r
        on w.person_key = r.person_key
    inner join definitions as d
        on
            r.event_source = d.event_source
            and (
                r.match_code = d.code
                or (r.prefix_match and r.match_code like d.code || '%')
            )
    left join index_admissions as ia
        on w.treatment_id = ia.treatment_id
    where
        r.record_date >= w.index_date + d.window_start_day
        and (d.window_end_day is null or r.record_date <= w.index_date + d.window_end_day)
        and r.record_date <= w.followup_end_date
        and (d.value_below is null or r.value_numeric < d.value_below)
        and not exists (
            -- the treatment's own infusions (a re-infusion on day 60) are not a new therapy
            select 1
            from atmp_administrations as own
            where
                own.treatment_id = w.treatment_id
                and own.source_record_id = r.source_record_id
        )
        and (
            r.event_source <> 'lpr3_acute_admission'
            or r.record_date > coalesce(ia.discharge_date, w.index_date)
        )
    group by w.treatment_id, d.outcome_id, r.record_date, r.source_name, r.source_record_id
),

sustained_definitions as (
    select distinct
        outcome_id,
        min_events,
        within_days
    from definitions
    where min_events > 1
),

sustained_events as (
    -- outcomes defined as sustained use (min_events records within within_days, e.g. return
    -- to factor IX prophylaxis): one event, at the first record that completes such a run;
    -- a record on its own (a single dose for surgery) is no event
    select distinct on (e.treatment_id, e.event_type)
        e.treatment_id,
        e.event_type,
        e.event_date,
        e.source_name,
        e.code,
        e.value_numeric,
        e.source_record_id
    from coded_events as e
    inner join sustained_definitions as d
        on e.event_type = d.outcome_id
    where (
        select count(*)
        from coded_events as p
        where
            p.treatment_id = e.treatment_id
            and p.event_type = e.event_type
            and p.event_date between e.event_date - d.within_days and e.event_date
    ) >= d.min_events
    order by e.treatment_id, e.event_type, e.event_date, e.source_record_id
),

assessments as (
    select * from {{ ref('int_outcome_assessments') }}
),

assessment_events as (
    select
        treatment_id,
        'response_assessment' as event_type,
        assessment_date as event_date,
        source_name,
        response as code,
        timepoint_day::numeric as value_numeric,
        assessment_id as source_record_id
    from assessments
    where response is not null

    union all

    select
        treatment_id,
        'factor_ix_activity' as event_type,
        assessment_date as event_date,
        source_name,
        null as code,
        factor_ix_activity_pct::numeric as value_numeric,
        assessment_id as source_record_id
    from assessments
    where factor_ix_activity_pct is not null

    union all

    select
        treatment_id,
        'crs_onset' as event_type,
        crs_onset_date as event_date,
        source_name,
        null as code,
        crs_grade::numeric as value_numeric,
        assessment_id as source_record_id
    from assessments
    where crs_onset_date is not null and crs_grade > 0

    union all

    select
        treatment_id,
        'icans_onset' as event_type,
        icans_onset_date as event_date,
        source_name,
        null as code,
        icans_grade::numeric as value_numeric,
        assessment_id as source_record_id
    from assessments
    where icans_onset_date is not null and icans_grade > 0
),

first_assessed as (
    -- progression and return to prophylaxis are dated by the first assessment reporting them
    select distinct on (treatment_id, event_type)
        treatment_id,
        event_type,
        assessment_date as event_date,
        source_name,
        code,
        null::numeric as value_numeric,
        assessment_id as source_record_id
    from (
        select
            treatment_id,
            'progression' as event_type,
            assessment_date,
            source_name,
            response as code,
            assessment_id
        from assessments
        where is_progression

        union all

        select
            treatment_id,
            'prophylaxis_resumed' as event_type,
            assessment_date,
            source_name,
            null as code,
            assessment_id
        from assessments
        where prophylaxis_resumed
    ) as reported
    order by treatment_id, event_type, assessment_date, assessment_id
),

events as (
    select * from atmp_administrations
    union all
    select * from end_of_followup
    union all
    select * from coded_events
    where event_type not in (select sd.outcome_id from sustained_definitions as sd)
    union all
    select * from sustained_events
    union all
    select * from assessment_events
    union all
    select * from first_assessed
)

select
    md5(e.treatment_id || '|' || e.event_type || '|' || e.source_record_id) as event_id,
    e.treatment_id,
    w.person_key,
    e.event_type,
    e.event_date,
    (e.event_date - w.index_date)::integer as days_from_index,
    e.source_name,
    e.code,
    e.value_numeric,
    e.source_record_id
from events as e
inner join windows as w
    on e.treatment_id = w.treatment_id
where e.event_date between w.index_date and w.followup_end_date
