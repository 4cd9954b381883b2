-- The release protects the actionable-exposure counts as one linked table per drug, gene,
-- phenotype and recommendation: each count's years add up to its total, and persons never
-- exceed exposures. A reader's arithmetic is only modelled right if that holds, so a row
-- here fails the build before any release is protected on a wrong model.
with counts as (
    select * from {{ ref('int_pgx__actionable_exposure_counts') }}
),

years as (
    select
        atc_code,
        gene,
        phenotype,
        recommendation_class,
        sum(persons) as persons,
        sum(exposures) as exposures
    from counts
    where period <> 'total'
    group by atc_code, gene, phenotype, recommendation_class
)

select
    t.atc_code,
    t.gene,
    t.phenotype,
    t.period,
    'years do not add up to the total' as problem
from counts as t
inner join years as y
    on
        t.atc_code = y.atc_code
        and t.gene = y.gene
        and t.phenotype = y.phenotype
        and t.recommendation_class = y.recommendation_class
where
    t.period = 'total'
    and (t.persons <> y.persons or t.exposures <> y.exposures)

union all

select
    atc_code,
    gene,
    phenotype,
    period,
    'more persons than exposures' as problem
from counts
where persons > exposures
