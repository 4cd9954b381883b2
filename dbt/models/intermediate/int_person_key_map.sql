-- Registries carry the CPR number valid on the day of the event; the CPR register is keyed by
-- the current number. This maps every earlier pseudonym to the person's current one,
-- following chains of changes (old -> newer -> current), so events recorded under an old
-- number still reach the right person.
with recursive changes as (
    select
        old_person_key,
        new_person_key,
        change_date
    from {{ ref('stg_cpr__changes') }}
),

chain as (
    select
        c.old_person_key as delivered_person_key,
        c.new_person_key as person_key,
        1 as chain_depth
    from changes as c

    union all

    select
        ch.delivered_person_key,
        nxt.new_person_key as person_key,
        ch.chain_depth + 1 as chain_depth
    from chain as ch
    inner join changes as nxt
        on ch.person_key = nxt.old_person_key
    where ch.chain_depth < 20
),

ranked as (
    select
        delivered_person_key,
        person_key,
        row_number() over (
            partition by delivered_person_key
            order by chain_depth desc, person_key asc
        ) as chain_rank
    from chain
)

select
    delivered_person_key,
    person_key
from ranked
where chain_rank = 1
