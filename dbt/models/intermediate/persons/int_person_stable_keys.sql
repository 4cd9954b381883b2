-- A key per person that survives CPR-number changes: the first pseudonym the person had
-- (the start of their CPR succession chain A -> B -> C). linkage.person_links gives the
-- current pseudonym, which changes with every new CPR number, so ids derived from it (a
-- treatment_id, and through it every agreement milestone) would move. Only persons whose
-- number has changed have a row; everyone else's stable key is their person_key.
with succession as (
    select * from {{ ref('stg_linkage__key_succession') }}
),

changes as (
    select * from {{ ref('stg_cpr__changes') }}
)

select
    s.person_key,
    min(s.old_person_key) as stable_person_key
from succession as s
where not exists (
        select 1
        from changes as c
        where c.new_person_key = s.old_person_key
    )
group by s.person_key
