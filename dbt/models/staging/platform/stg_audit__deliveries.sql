with source as (
    select * from {{ source('audit', 'deliveries') }}
)

select
    attempt_id,
    source as source_name,
    delivery_id,
    cutoff_date,
    status,
    finished_at
from source
