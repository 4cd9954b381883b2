-- One row describing the build the export tables came from, for the release manifest. Under
-- Airflow, Cosmos runs dbt in a temporary copy of the project, so target/run_results.json
-- of the checked-out project says nothing about the build the tables came from; this does.
select
    c.cutoff_date::date as cutoff_date,
    c.data_cutoff_date::date as data_cutoff_date,
    c.cutoff_origin::text as cutoff_origin,
    '{{ invocation_id }}'::text as dbt_invocation_id,
    '{{ dbt_version }}'::text as dbt_version,
    {{ var('disclosure_threshold') }}::integer as disclosure_threshold
from {{ ref('int_data_cutoff') }} as c
