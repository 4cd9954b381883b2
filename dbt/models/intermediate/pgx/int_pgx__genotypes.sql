{#- Every sequenced person's genotype at every pharmacogenetic position of the seed
    genotyped_positions (purpose 'pgx'), with its callability. A position the export has no
    row for (the seed grew after the last export) is not_covered: nothing is assumed
    about a genome where it was not read. A person with more than one genome (a genome
    delivered under an earlier CPR number) is read from the latest genome id. -#}
with positions as (
    select
        variant_key,
        gene
    from {{ ref('genotyped_positions') }}
    where purpose = 'pgx'
),

genotypes as (
    select
        person_key,
        genome_id,
        variant_key,
        callability,
        alt_copies
    from {{ ref('stg_variants__person_genotypes') }}
),

genomes as (
    select
        person_key,
        max(genome_id) as genome_id
    from genotypes
    group by person_key
)

select
    g.person_key,
    g.genome_id,
    p.gene,
    p.variant_key,
    coalesce(t.callability, 'not_covered') as callability,
    t.alt_copies
from genomes as g
cross join positions as p
left join genotypes as t
    on
        g.genome_id = t.genome_id
        and p.variant_key = t.variant_key
