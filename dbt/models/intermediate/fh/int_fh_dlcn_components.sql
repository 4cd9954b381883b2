{{ config(materialized='table') }}
{#- The Dutch Lipid Clinic Network components per person, with their evidence: the
    points of each criterion group (fh_dlcn_criteria; within a group the highest-scoring
    criterion met counts) and the total score. One row per person with an LDL result or
    any component scoring points.
    - ldl_points: the band of the highest LDL measured (int_fh_ldl).
    - clinical_history_points: premature coronary (2) or cerebral/peripheral (1) vascular
      disease before the sex-specific age (int_fh_clinical_events).
    - physical_examination_points: always 0; tendon xanthomata and arcus cornealis are not
      coded in the registries (fh_dlcn_criteria.assessable = false).
    - family_history_points: a first-degree relative (int_fh_first_degree_relatives) with
      premature vascular disease or LDL at least the adult cut-off (1), or a child with LDL
      at least the paediatric cut-off before age 18 (2).
    - dna_points: a pathogenic LDLR, APOB or PCSK9 variant (genotyped_positions with
      purpose 'fh') called in the person's genome in the genotype export
      (stg_variants__person_genotypes: called_variant, at least one alternative copy) (8).
      A person never sequenced, or not covered at the position, scores 0 here: absence of
      evidence, not a negative test. -#}
with criteria as (
    select
        criterion_code,
        criterion_group,
        points,
        ldl_min_mmol_l,
        ldl_below_mmol_l
    from {{ ref('fh_dlcn_criteria') }}
    where assessable
),

ldl as (
    select
        person_key,
        highest_ldl_mmol_l,
        highest_ldl_date,
        ldl_measurements,
        highest_ldl_before_18_mmol_l
    from {{ ref('int_fh_ldl') }}
),

events as (
    select
        person_key,
        component,
        first_event_date,
        first_code
    from {{ ref('int_fh_clinical_events') }}
),

relatives as (
    select
        person_key,
        relative_person_key,
        relationship
    from {{ ref('int_fh_first_degree_relatives') }}
),

genotypes as (
    select
        person_key,
        variant_key,
        callability,
        alt_copies
    from {{ ref('stg_variants__person_genotypes') }}
),

fh_variants as (
    select variant_key
    from {{ ref('genotyped_positions') }}
    where purpose = 'fh'
),

genetic as (
    select
        g.person_key,
        g.variant_key
    from genotypes as g
    inner join fh_variants as v
        on g.variant_key = v.variant_key
    where g.callability = 'called_variant' and g.alt_copies > 0
),

ldl_points as (
    select
        l.person_key,
        l.highest_ldl_mmol_l,
        l.highest_ldl_date,
        l.ldl_measurements,
        coalesce(max(c.points), 0) as ldl_points
    from ldl as l
    left join criteria as c
        on
            c.criterion_group = 'ldl_cholesterol'
            and l.highest_ldl_mmol_l >= c.ldl_min_mmol_l
            and (c.ldl_below_mmol_l is null or l.highest_ldl_mmol_l < c.ldl_below_mmol_l)
    group by l.person_key, l.highest_ldl_mmol_l, l.highest_ldl_date, l.ldl_measurements
),

clinical_points as (
    select
        e.person_key,
        max(c.points) as clinical_history_points,
        min(e.first_event_date) filter (where e.component = 'premature_cad') as premature_cad_date,
        min(e.first_code) filter (where e.component = 'premature_cad') as premature_cad_code,
        min(e.first_event_date) filter (
            where e.component = 'premature_cerebral_peripheral'
        ) as premature_other_vascular_date,
        min(e.first_code) filter (
            where e.component = 'premature_cerebral_peripheral'
        ) as premature_other_vascular_code
    from events as e
    inner join criteria as c
        on
            c.criterion_group = 'clinical_history'
            and e.component = c.criterion_code
    group by e.person_key
),

premature_relatives as (
    select distinct person_key
    from events
    where component in ('premature_cad', 'premature_cerebral_peripheral')
),

relative_evidence as (
    select
        r.person_key,
        r.relative_person_key,
        r.relationship,
        c.criterion_code,
        c.points
    from relatives as r
    left join ldl as l
        on r.relative_person_key = l.person_key
    left join premature_relatives as v
        on r.relative_person_key = v.person_key
    inner join criteria as c
        on
            c.criterion_group = 'family_history'
            and (
                (
                    c.criterion_code = 'fdr_premature_vascular_or_high_ldl'
                    and (v.person_key is not null or l.highest_ldl_mmol_l >= c.ldl_min_mmol_l)
                )
                or (
                    c.criterion_code = 'fdr_xanthomata_or_child_high_ldl'
                    and r.relationship = 'child'
                    and l.highest_ldl_before_18_mmol_l >= c.ldl_min_mmol_l
                )
            )
),

family_points as (
    select
        person_key,
        max(points) as family_history_points,
        count(distinct relative_person_key) as relatives_with_evidence,
        string_agg(
            distinct relationship || ': ' || criterion_code, '; ' order by relationship || ': ' || criterion_code
        ) as family_history_evidence
    from relative_evidence
    group by person_key
),

dna_points as (
    select
        g.person_key,
        max(c.points) as dna_points,
        string_agg(distinct g.variant_key, '; ' order by g.variant_key) as dna_evidence
    from genetic as g
    inner join criteria as c
        on c.criterion_group = 'dna_analysis'
    group by g.person_key
),

spine as (
    select person_key from ldl_points
    union
    select person_key from clinical_points
    union
    select person_key from family_points
    union
    select person_key from dna_points
)

select
    s.person_key,
    l.highest_ldl_mmol_l,
    l.highest_ldl_date,
    coalesce(l.ldl_measurements, 0) as ldl_measurements,
    coalesce(l.ldl_points, 0) as ldl_points,
    coalesce(k.clinical_history_points, 0) as clinical_history_points,
    k.premature_cad_date,
    k.premature_cad_code,
    k.premature_other_vascular_date,
    k.premature_other_vascular_code,
    0 as physical_examination_points,
    coalesce(f.family_history_points, 0) as family_history_points,
    coalesce(f.relatives_with_evidence, 0) as relatives_with_evidence,
    f.family_history_evidence,
    coalesce(d.dna_points, 0) as dna_points,
    d.dna_evidence,
    coalesce(l.ldl_points, 0)
    + coalesce(k.clinical_history_points, 0)
    + coalesce(f.family_history_points, 0)
    + coalesce(d.dna_points, 0) as dlcn_score
from spine as s
left join ldl_points as l
    on s.person_key = l.person_key
left join clinical_points as k
    on s.person_key = k.person_key
left join family_points as f
    on s.person_key = f.person_key
left join dna_points as d
    on s.person_key = d.person_key
