-- One row: the follow-up cut-off. By default the cut-off of the CPR delivery currently in
-- raw (the population spine decides who is alive on which day); the dbt var cutoff_date
-- overrides it, e.g. to reproduce an earlier release. Nothing after the cut-off is used.
with cpr_delivery as (
    select distinct delivery_id
    from {{ ref('stg_cpr__persons') }}
),

loaded as (
    select
        d.delivery_id,
        d.cutoff_date
    from {{ ref('stg_audit__deliveries') }} as d
    inner join cpr_delivery as c
        on d.delivery_id = c.delivery_id
    where
        d.source_name = 'cpr'
        and d.status = 'loaded'
)

select
    {% if var('cutoff_date') %}
        '{{ var("cutoff_date") }}'::date as cutoff_date,
        'dbt var cutoff_date' as cutoff_origin,
    {% else %}
        max(cutoff_date) as cutoff_date,
        'cpr delivery ' || max(delivery_id) as cutoff_origin,
    {% endif %}
    max(cutoff_date) as data_cutoff_date,
    max(delivery_id) as cpr_delivery_id
from loaded
