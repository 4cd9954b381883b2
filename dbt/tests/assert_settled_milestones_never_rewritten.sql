-- A milestone once settled (met / not met) keeps that status and payment for good: any
-- later snapshot version with another status or payment, or recording that the milestone
-- disappeared from the mart (hard delete), is a rewrite that someone must look at. Later
-- versions that only raise needs_review are how the mart reports disagreeing data.
with history as (
    select
        agreement_status_id,
        status,
        payment_share_due,
        dbt_valid_from,
        coalesce(dbt_is_deleted = 'True', false) as is_deleted
    from {{ ref('snp_outcome_agreement_status') }}
),

settled as (
    select distinct on (agreement_status_id)
        agreement_status_id,
        status,
        payment_share_due,
        dbt_valid_from as settled_from
    from history
    where status in ('met', 'not met') and not is_deleted
    order by agreement_status_id asc, dbt_valid_from asc
)

select
    h.agreement_status_id,
    h.status,
    h.payment_share_due,
    h.dbt_valid_from,
    h.is_deleted
from history as h
inner join settled as s
    on h.agreement_status_id = s.agreement_status_id
where
    h.dbt_valid_from > s.settled_from
    and (
        h.is_deleted
        or h.status is distinct from s.status
        or h.payment_share_due is distinct from s.payment_share_due
    )
