-- One row per product, indication and period (each treatment year, and 'total'), with its
-- labels and every count and estimate blank. The release step (src/medicinraadet_release)
-- reads the unprotected counts in staging, protects them over all linked cells at once,
-- audits them and only then fills these rows: nothing here is ever unprotected, and the
-- rows researchers read are exactly the last release's.
-- The release reads these (in staging, where only engineers can):
-- depends_on: {{ ref('int_medicinraadet_counts') }}
-- depends_on: {{ ref('int_medicinraadet_survival') }}
-- depends_on: {{ ref('int_survival_subjects') }}
with periods as (
    select distinct
        product_code,
        indication_group,
        period
    from {{ ref('int_medicinraadet_counts') }}
),

indications as (
    select * from {{ ref('atmp_indications') }}
),

products as (
    select * from {{ ref('atmp_products') }}
),

cutoff as (
    select cutoff_date from {{ ref('int_data_cutoff') }}
)

select
    p.product_code::text as product_code,
    pr.product_name::text as product_name,
    p.indication_group::text as indication_group,
    coalesce(i.indication_label, 'Unknown indication')::text as indication_label,
    p.period::text as period,
    c.cutoff_date::date as cutoff_date,
    null::text as patients_treated,
    null::text as deaths,
    null::text as response_followed,
    null::text as response_evaluable,
    null::text as responders,
    null::text as complete_responders,
    null::text as toxicity_evaluable,
    null::text as crs_grade3plus,
    null::text as icans_grade3plus,
    null::text as icu_30d_evaluable,
    null::text as icu_30d,
    null::numeric(4, 3) as response_rate_treated,
    null::numeric(4, 3) as response_rate,
    null::numeric(4, 3) as complete_response_rate_treated,
    null::numeric(4, 3) as complete_response_rate,
    null::numeric(4, 3) as crs_grade3plus_rate,
    null::numeric(4, 3) as icans_grade3plus_rate,
    null::numeric(4, 3) as icu_30d_rate,
    null::numeric(4, 3) as os_1y,
    null::numeric(4, 3) as os_1y_ci_lower,
    null::numeric(4, 3) as os_1y_ci_upper,
    null::numeric(4, 3) as os_2y,
    null::numeric(4, 3) as os_2y_ci_lower,
    null::numeric(4, 3) as os_2y_ci_upper
from periods as p
cross join cutoff as c
inner join products as pr
    on p.product_code = pr.product_code
left join indications as i
    on
        p.product_code = i.product_code
        and p.indication_group = i.indication_group
