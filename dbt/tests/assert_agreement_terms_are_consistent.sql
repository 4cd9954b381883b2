-- One row per agreement milestone, for an indication of the agreement's product.
select
    t.agreement_id,
    t.milestone_day,
    'duplicate milestone' as problem
from {{ ref('agreement_terms') }} as t
group by t.agreement_id, t.milestone_day
having count(*) > 1

union all

select
    t.agreement_id,
    t.milestone_day,
    'unknown product/indication' as problem
from {{ ref('agreement_terms') }} as t
left join {{ ref('atmp_indications') }} as i
    on
        t.product_code = i.product_code
        and t.indication_group = i.indication_group
where i.product_code is null
