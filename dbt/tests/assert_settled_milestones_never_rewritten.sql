-- A milestone once settled (met / not met) keeps that status and payment for good: any
-- later snapshot version of it is a rewrite that someone must look at.
with history as (
    select
        agreement_status_id,
        status,
        payment_share_due,
        dbt_valid_from
    from {{ ref('snp_outcome_agreement_status') }}
),

settled as (
    select
        agreement_status_id,
        min(dbt_valid_from) as settled_from
    from history
    where status in ('met', 'not met')
    group by agreement_status_id
)

select
    h.agreement_status_id,
    h.status,
    h.payment_share_due,
    h.dbt_valid_from
from history as h
inner join settled as s
    on h.agreement_status_id = s.agreement_status_id
where h.dbt_valid_from > s.settled_from
