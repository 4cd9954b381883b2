{#- Persons whose genetic data may not be used for research on the date of the build: an
    opt-out of the genetics register ('genetik') or of the tissue-use register ('vaev',
    which covers the biological material the genome was sequenced from) in force on
    current_date. Registrations made under a CPR number the person has since replaced count
    for the person (key succession, as linkage defines it). One row per person, by the
    current person_key. Every research mart that uses genetic data excludes these persons. -#}
with in_force as (
    select person_key
    from {{ ref('stg_optout__registrations') }}
    where
        register in ('genetik', 'vaev')
        and valid_from <= current_date
        and (valid_to is null or valid_to > current_date)
)

select distinct coalesce(s.person_key, o.person_key) as person_key
from in_force as o
left join {{ ref('stg_linkage__key_succession') }} as s
    on o.person_key = s.old_person_key
