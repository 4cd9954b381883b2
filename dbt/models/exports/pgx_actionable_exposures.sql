-- One row per drug, gene, phenotype and period (each exposure year, and 'total') with an
-- actionable CPIC gene-drug exposure, with its labels and every count blank. As for the
-- Medicinrådet exports, nothing here is ever unprotected: the release step reads the
-- unprotected counts in staging, protects them over all linked cells, audits them and only
-- then fills these rows.
-- The release reads these (in staging, where only engineers can):
-- depends_on: {{ ref('int_pgx__actionable_exposure_counts') }}
with cells as (
    select distinct
        atc_code,
        drug,
        gene,
        phenotype,
        recommendation_class,
        period
    from {{ ref('int_pgx__actionable_exposure_counts') }}
)

select
    atc_code::text as atc_code,
    drug::text as drug,
    gene::text as gene,
    phenotype::text as phenotype,
    recommendation_class::text as recommendation_class,
    period::text as period,
    null::text as persons,
    null::text as exposures
from cells
