-- Clinical outcome assessments matched to the treatment they follow up: Danish extracts by
-- person_key, cross-border extracts through record linkage. An assessment belongs to a
-- treatment of the same product (or of any product when the extract leaves it blank) of the
-- same person, dated within the treatment's observation window. Responses are read on the
-- indication's response scale (response_categories seed); a response from another scale,
-- or an unknown code, stays in `response` but gets no rank. Every measurement the extracts
-- share (macro outcome_measurements) is carried through.

with danish as (
    select
        a.assessment_id,
        coalesce(k.person_key, a.person_key) as person_key,
        'outcomes' as source_name,
        {{ outcome_measurement_names('a') }}
    from {{ ref('stg_outcomes__assessments') }} as a
    left join {{ ref('int_person_key_map') }} as k
        on
            k.source_name = 'outcomes__vurderinger'
            and a.person_key = k.record_id
),

crossborder as (
    select
        a.assessment_id,
        l.person_key,
        'outcomes_crossborder' as source_name,
        {{ outcome_measurement_names('a') }}
    from {{ ref('stg_outcomes_crossborder__assessments') }} as a
    inner join {{ ref('int_person_key_map') }} as l
        on
            l.source_name = 'outcomes_crossborder__patients'
            and a.foreign_patient_id = l.record_id
),

assessments as (
    select * from danish
    union all
    select * from crossborder
),

windows as (
    select
        w.treatment_id,
        w.person_key,
        w.index_date,
        w.followup_end_date,
        t.product_code,
        i.response_scale
    from {{ ref('int_atmp_followup_window') }} as w
    inner join {{ ref('int_atmp_treatments') }} as t
        on w.treatment_id = t.treatment_id
    inner join {{ ref('int_treatment_indication') }} as i
        on w.treatment_id = i.treatment_id
)

select
    w.treatment_id,
    a.assessment_id,
    a.source_name,
    (a.assessment_date - w.index_date)::integer as days_from_index,
    r.response_rank,
    r.is_response,
    r.is_complete_response,
    r.is_progression,
    {{ outcome_measurement_names('a') }}
from assessments as a
inner join windows as w
    on
        a.person_key = w.person_key
        and (a.product_code = w.product_code or a.product_code is null)
        and a.assessment_date between w.index_date and w.followup_end_date
left join {{ ref('response_categories') }} as r
    on
        w.response_scale = r.response_scale
        and a.response = r.response_code
