{{ config(materialized='table') }}
{#- First-degree relatives from the CPR register's parent links: parents, children and full
    siblings (sharing both registered parents; half-siblings are second-degree relatives).
    Parent pseudonyms are resolved through linkage like every delivered pseudonym, so a
    parent's since-replaced number reaches the parent's current key. One row per person,
    relative and relationship (the relative's relation to the person). -#}
with persons as (
    select
        person_key,
        mother_person_key,
        father_person_key
    from {{ ref('stg_cpr__persons') }}
),

key_map as (
    select
        source_name,
        record_id,
        person_key
    from {{ ref('int_person_key_map') }}
),

resolved as (
    select
        p.person_key,
        coalesce(m.person_key, p.mother_person_key) as mother_key,
        coalesce(f.person_key, p.father_person_key) as father_key
    from persons as p
    left join key_map as m
        on
            m.source_name = 'cpr__persons.mor_person_key'
            and p.mother_person_key = m.record_id
    left join key_map as f
        on
            f.source_name = 'cpr__persons.far_person_key'
            and p.father_person_key = f.record_id
    where p.mother_person_key is not null or p.father_person_key is not null
),

parent_links as (
    select
        person_key,
        mother_key as parent_key
    from resolved
    where mother_key is not null
    union all
    select
        person_key,
        father_key as parent_key
    from resolved
    where father_key is not null
),

relatives as (
    select
        person_key,
        parent_key as relative_person_key,
        'parent' as relationship
    from parent_links
    union all
    select
        parent_key as person_key,
        person_key as relative_person_key,
        'child' as relationship
    from parent_links
    union all
    select
        a.person_key,
        b.person_key as relative_person_key,
        'sibling' as relationship
    from resolved as a
    inner join resolved as b
        on
            a.mother_key = b.mother_key
            and a.father_key = b.father_key
            and a.person_key <> b.person_key
)

select distinct
    person_key,
    relative_person_key,
    relationship
from relatives
where person_key <> relative_person_key
