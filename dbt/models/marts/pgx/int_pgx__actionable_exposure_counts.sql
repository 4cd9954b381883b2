{#- Unprotected counts of actionable gene-drug exposures (fct_pgx_exposure.is_actionable)
    per drug, gene, phenotype, recommendation class and period (each exposure year, and
    'total'): persons and exposures. In staging, where only engineers read: the release
    step protects these over all linked cells and only then fills
    exports.pgx_actionable_exposures, as for the Medicinrådet exports.

    The counts are made to add up, because the release protects them as one linked table
    (years sum to the total, persons <= exposures): a person is counted once, in the year of
    their first actionable exposure to the drug in the group (so the years' persons add up
    to the total's distinct persons), and an exposure in its own year. A year with
    exposures only of persons already counted earlier has persons 0. That first exposure
    lies in the year, so persons <= exposures in every period.

    In marts/ because it reads a mart (its layer's task builds it after fct_pgx_exposure),
    but stored as the intermediate models are: a view in staging. -#}
{{ config(schema='staging', materialized='view') }}
with actionable as (
    select
        atc_code,
        drug,
        gene,
        phenotype,
        recommendation_class,
        exposure_year,
        person_key
    from {{ ref('fct_pgx_exposure') }}
    where is_actionable
),

firsts as (
    select
        atc_code,
        drug,
        gene,
        phenotype,
        recommendation_class,
        person_key,
        min(exposure_year) as first_year
    from actionable
    group by atc_code, drug, gene, phenotype, recommendation_class, person_key
),

yearly as (
    select
        a.atc_code,
        a.drug,
        a.gene,
        a.phenotype,
        a.recommendation_class,
        a.exposure_year::text as period,
        count(distinct a.person_key) filter (
            where a.exposure_year = f.first_year
        ) as persons,
        count(*) as exposures
    from actionable as a
    inner join firsts as f
        on
            a.atc_code = f.atc_code
            and a.drug = f.drug
            and a.gene = f.gene
            and a.phenotype = f.phenotype
            and a.recommendation_class = f.recommendation_class
            and a.person_key = f.person_key
    group by
        a.atc_code,
        a.drug,
        a.gene,
        a.phenotype,
        a.recommendation_class,
        a.exposure_year
),

totals as (
    select
        atc_code,
        drug,
        gene,
        phenotype,
        recommendation_class,
        'total' as period,
        count(distinct person_key) as persons,
        count(*) as exposures
    from actionable
    group by atc_code, drug, gene, phenotype, recommendation_class
)

select * from yearly
union all
select * from totals
