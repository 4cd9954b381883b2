{#- Each dispensing (prescription register) and hospital administration of a drug with a
    CPIC gene-drug pair, to a sequenced person, joined to the person's phenotype for that
    gene and the CPIC recommendation class for drug and phenotype. A germline genotype holds
    at every date, so the phenotype is the person's, whenever the genome was delivered.
    Thiopurines pair with TPMT and NUDT15: one row per exposure and gene. Persons resolved
    through record linkage (int_person_key_map); persons with an opt-out of genetic data in
    force are left out. -#}
with recommendations as (
    select * from {{ ref('pgx_drug_recommendations') }}
),

drug_pairs as (
    select distinct
        gene,
        atc_code,
        drug
    from recommendations
),

phenotypes as (
    select
        person_key,
        gene,
        diplotype,
        phenotype
    from {{ ref('fct_pgx_phenotypes') }}
),

optouts as (
    select person_key from {{ ref('int_genetic_optouts_in_force') }}
),

key_map as (
    select
        source_name,
        record_id,
        person_key
    from {{ ref('int_person_key_map') }}
),

dispensings as (
    select
        dispensing_id as record_id,
        person_key,
        dispensing_date as exposure_date,
        atc_code
    from {{ ref('stg_lmdb__dispensings') }}
),

administrations as (
    select
        administration_id as record_id,
        person_key,
        administration_date as exposure_date,
        atc_code
    from {{ ref('stg_sygehusmedicin__administrations') }}
),

exposures as (
    select
        'dispensing' as exposure_source,
        d.record_id,
        coalesce(k.person_key, d.person_key) as person_key,
        d.exposure_date,
        d.atc_code
    from dispensings as d
    left join key_map as k
        on
            k.source_name = 'lmdb__ekspeditioner'
            and d.person_key = k.record_id
    union all
    select
        'hospital administration' as exposure_source,
        a.record_id,
        coalesce(k.person_key, a.person_key) as person_key,
        a.exposure_date,
        a.atc_code
    from administrations as a
    left join key_map as k
        on
            k.source_name = 'sygehusmedicin__administrationer'
            and a.person_key = k.record_id
)

select
    e.exposure_source || ':' || e.record_id || ':' || dp.gene as exposure_id,
    e.exposure_source,
    e.record_id,
    e.person_key,
    e.exposure_date,
    extract(year from e.exposure_date)::int as exposure_year,
    e.atc_code,
    dp.drug,
    dp.gene,
    p.diplotype,
    p.phenotype,
    r.recommendation_class,
    r.recommendation,
    coalesce(r.recommendation_class <> 'standard dosing', false) as is_actionable,
    r.cpic_guideline,
    r.cpic_version
from exposures as e
inner join drug_pairs as dp
    on e.atc_code = dp.atc_code
inner join phenotypes as p
    on
        e.person_key = p.person_key
        and dp.gene = p.gene
left join recommendations as r
    on
        dp.gene = r.gene
        and dp.atc_code = r.atc_code
        and p.phenotype = r.phenotype
where not exists (
        select 1 from optouts as o
        where o.person_key = e.person_key
    )
