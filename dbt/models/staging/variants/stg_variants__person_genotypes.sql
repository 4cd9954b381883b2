{#- Genotypes at the named positions, one row per genome and position, under the person's
    current key: the genome manifest may carry a CPR number the person has since replaced,
    resolved through CPR succession as linkage defines it. -#}
with source as (
    select * from {{ source('variants', 'person_genotypes') }}
),

succession as (
    select
        old_person_key,
        person_key
    from {{ ref('stg_linkage__key_succession') }}
)

select
    coalesce(s.person_key, g.person_key) as person_key,
    g.person_key as manifest_person_key,
    g.genome_id,
    g.variant_key,
    g.chrom,
    g.pos,
    g.ref,
    g.alt,
    g.callability,
    g.alt_copies,
    g.ploidy,
    g.exported_at
from source as g
left join succession as s
    on g.person_key = s.old_person_key
