-- Values arrive as Danish text: decimal comma ("4,91") and censored results below or above
-- the reporting limit ("<0,5"). A censored value keeps its limit as the number, with the
-- direction in value_censoring, so "<0,5" is never read as 0,5 without saying so.
with source as (
    select * from {{ source('lab', 'lab__resultater') }}
),

parsed as (
    select
        *,
        {{ danish_number("vaerdi") }} as value_numeric,
        case
            when ltrim(vaerdi) like '<%' then 'below'
            when ltrim(vaerdi) like '>%' then 'above'
        end as value_censoring
    from source
)

select
    _delivery_id || '#' || _row_number::text as lab_result_id,
    person_key,
    proevetid as sampled_at,
    proevetid::date as sample_date,
    npu_kode as npu_code,
    analysenavn as analysis_name,
    vaerdi as value_text,
    value_numeric,
    value_censoring,
    enhed as unit,
    ref_nedre as reference_low,
    ref_oevre as reference_high,
    _delivery_id as delivery_id
from parsed
