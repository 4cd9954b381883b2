{#- The opt-out registers as delivered: one row per validity interval of one registration,
    under the pseudonym it was registered with (resolved to the person's current key by
    int_genetic_optouts_in_force). -#}
with source as (
    select * from {{ source('optout', 'optout__registreringer') }}
)

select
    person_key,
    register,
    gyldig_fra as valid_from,
    gyldig_til as valid_to,
    _delivery_id as delivery_id
from source
