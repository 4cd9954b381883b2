{#- Pharmacogenetic phenotype per sequenced person and gene (CPIC), with its evidence.

    A gene's defining positions are those its alleles (pgx_alleles) are made of. With every
    defining position called, the diplotype is the pair of alleles whose variants add up to
    the ALT copies called at each position; genotypes are unphased, so when two pairs fit
    (TPMT c.460A and c.719G each heterozygous: *1/*3A or *3B/*3C) the pair with fewer
    non-reference alleles is taken, as CPIC and clinical laboratories do (*3A is far more
    common). The phenotype follows the alleles' functions (pgx_phenotype_rules) or, for
    DPYD, the activity score. With any defining position not covered, the phenotype is
    'indeterminate' and no diplotype is given: an uncalled position is never read as
    reference. Persons with an opt-out of genetic data in force are left out. -#}
with genotypes as (
    select * from {{ ref('int_pgx__genotypes') }}
),

optouts as (
    select person_key from {{ ref('int_genetic_optouts_in_force') }}
),

alleles as (
    select
        gene,
        allele,
        allele_rank,
        coalesce(variant_keys, '') as variant_keys,
        function,
        activity_value
    from {{ ref('pgx_alleles') }}
),

rules as (
    select * from {{ ref('pgx_phenotype_rules') }}
),

allele_variants as (
    select
        a.gene,
        a.allele,
        v.variant_key
    from alleles as a
    cross join lateral unnest(string_to_array(nullif(a.variant_keys, ''), '|')) as v (variant_key)
),

defining as (
    select distinct
        gene,
        variant_key
    from allele_variants
),

pairs as (
    select
        a1.gene,
        a1.allele as allele_1,
        a2.allele as allele_2,
        (a1.variant_keys <> '')::int + (a2.variant_keys <> '')::int as non_reference_alleles,
        a1.allele_rank as rank_1,
        a2.allele_rank as rank_2
    from alleles as a1
    inner join alleles as a2
        on
            a1.gene = a2.gene
            and a1.allele_rank <= a2.allele_rank
),

expected as (
    select
        p.gene,
        p.allele_1,
        p.allele_2,
        p.non_reference_alleles,
        p.rank_1,
        p.rank_2,
        d.variant_key,
        (v1.variant_key is not null)::int + (v2.variant_key is not null)::int as alt_copies
    from pairs as p
    inner join defining as d
        on p.gene = d.gene
    left join allele_variants as v1
        on
            p.gene = v1.gene
            and p.allele_1 = v1.allele
            and d.variant_key = v1.variant_key
    left join allele_variants as v2
        on
            p.gene = v2.gene
            and p.allele_2 = v2.allele
            and d.variant_key = v2.variant_key
),

person_genes as (
    select
        g.person_key,
        g.genome_id,
        g.gene,
        count(*) as defining_positions,
        count(*) filter (where g.callability = 'not_covered') as positions_not_covered,
        string_agg(
            g.variant_key || '=' || g.callability || coalesce(':' || g.alt_copies::text, ''),
            '; ' order by g.variant_key
        ) as evidence
    from genotypes as g
    inner join defining as d
        on
            g.gene = d.gene
            and g.variant_key = d.variant_key
    group by g.person_key, g.genome_id, g.gene
),

fitting as (
    select
        g.person_key,
        e.gene,
        e.allele_1,
        e.allele_2,
        e.non_reference_alleles,
        e.rank_1,
        e.rank_2
    from genotypes as g
    inner join expected as e
        on
            g.gene = e.gene
            and g.variant_key = e.variant_key
    where g.callability <> 'not_covered'
    group by g.person_key, e.gene, e.allele_1, e.allele_2, e.non_reference_alleles, e.rank_1, e.rank_2
    having bool_and(g.alt_copies = e.alt_copies)
),

diplotypes as (
    select distinct on (person_key, gene)
        person_key,
        gene,
        allele_1,
        allele_2
    from fitting
    order by person_key, gene, non_reference_alleles, rank_1, rank_2
),

called as (
    select
        d.person_key,
        d.gene,
        d.allele_1,
        d.allele_2,
        a1.activity_value + a2.activity_value as activity_score,
        a1.function as function_1,
        a2.function as function_2
    from diplotypes as d
    inner join alleles as a1
        on
            d.gene = a1.gene
            and d.allele_1 = a1.allele
    inner join alleles as a2
        on
            d.gene = a2.gene
            and d.allele_2 = a2.allele
),

phenotyped as (
    select
        c.*,
        r.phenotype
    from called as c
    left join rules as r
        on
            c.gene = r.gene
            and (
                (c.function_1 = r.function_1 and c.function_2 = r.function_2)
                or (c.function_1 = r.function_2 and c.function_2 = r.function_1)
                or (
                    r.activity_score_min is not null
                    and c.activity_score between r.activity_score_min and r.activity_score_max
                )
            )
)

select
    pg.person_key,
    pg.gene,
    pg.genome_id,
    case when pg.positions_not_covered = 0 then p.allele_1 end as allele_1,
    case when pg.positions_not_covered = 0 then p.allele_2 end as allele_2,
    case
        when pg.positions_not_covered = 0 and p.allele_1 is not null
            then p.allele_1 || '/' || p.allele_2
    end as diplotype,
    case when pg.positions_not_covered = 0 then p.activity_score end as activity_score,
    case
        when pg.positions_not_covered > 0 then 'indeterminate'
        else coalesce(p.phenotype, 'indeterminate')
    end as phenotype,
    pg.positions_not_covered > 0 or p.phenotype is null as is_indeterminate,
    pg.defining_positions,
    pg.positions_not_covered,
    pg.evidence
from person_genes as pg
left join phenotyped as p
    on
        pg.person_key = p.person_key
        and pg.gene = p.gene
where not exists (
        select 1 from optouts as o
        where o.person_key = pg.person_key
    )
