-- A cut-off given as var cutoff_date must not lie after the loaded CPR delivery's cut-off:
-- persons would look alive on days the data do not cover.
select
    cutoff_date,
    data_cutoff_date
from {{ ref('int_data_cutoff') }}
where cutoff_date > data_cutoff_date or cutoff_date is null
