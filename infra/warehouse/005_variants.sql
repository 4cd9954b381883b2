-- Variant-frequency releases as the variant service and SQL readers see them. A release is
-- loaded and made current in one transaction (genomics_variants.frequencies.postgres).
create table if not exists variants.releases (
    release_id text primary key,
    created_at timestamptz not null,
    release_date date not null,
    sample_count integer not null,
    variant_count integer not null,
    is_current boolean not null default false
);
create table if not exists variants.frequencies (
    release_id text not null references variants.releases (release_id) on delete cascade,
    variant_id text not null,
    chrom text not null,
    pos bigint not null,
    ref text not null,
    alt text not null,
    stratum text not null,
    ac integer not null,
    an integer not null,
    af double precision,
    nhomalt integer not null,
    nhemi integer not null,
    faf95 double precision not null,
    call_rate double precision,
    ac_raw integer not null,
    an_raw integer not null,
    af_raw double precision,
    nhomalt_raw integer not null,
    nhemi_raw integer not null,
    grpmax text,
    grpmax_af double precision,
    faf95_max double precision,
    primary key (release_id, variant_id, stratum)
);
-- Samples of unknown coverage carrying the ALT (stratum `all` only; in no other count).
alter table variants.frequencies add column if not exists seen_unknown_coverage integer;
create index if not exists frequencies_locus on variants.frequencies (release_id, chrom, pos);
-- Allele number at every callable site of a release (genomics_variants.frequencies.coverage):
-- intervals (1-based, inclusive) over which a stratum's QC-passing AN is constant, so a
-- variant without a row is absent (AN > 0 here) or not covered (no interval).
create table if not exists variants.coverage (
    release_id text not null references variants.releases (release_id) on delete cascade,
    chrom text not null,
    start_pos bigint not null,
    end_pos bigint not null,
    stratum text not null,
    an integer not null,
    primary key (release_id, chrom, start_pos, stratum)
);
create or replace view variants.current_frequencies as
    select f.* from variants.frequencies f
    join variants.releases r using (release_id) where r.is_current;
comment on table variants.frequencies is
    'Allele counts and frequencies per release, variant and stratum (all, XX, XY, region); '
    'unsuffixed counts use QC-passing (adj) genotypes, *_raw all genotypes; '
    'seen_unknown_coverage (stratum all): samples of unknown coverage carrying the ALT, in no '
    'AC, AN or AF (definitions: genomics_variants.frequencies.strata).';
-- Genotype of every stored genome at each named position of the dbt seed
-- genotyped_positions (genomics_variants.contributions.positions): read from the per-sample
-- contribution store, never from the VCFs, and replaced in one transaction per export.
-- person_key is the pseudonym the genome manifest carried (dbt resolves it to the person's
-- current key); persons with an opt-out in force are never written.
create table if not exists variants.person_genotypes (
    person_key text not null,
    genome_id text not null,
    variant_key text not null,
    chrom text not null,
    pos integer not null,
    ref text not null,
    alt text not null,
    callability text not null
        check (callability in ('called_ref', 'called_variant', 'not_covered')),
    alt_copies smallint,
    ploidy smallint,
    exported_at timestamptz not null,
    primary key (genome_id, variant_key),
    check ((callability = 'not_covered') = (alt_copies is null))
);
comment on table variants.person_genotypes is
    'One row per stored genome and named position (dbt seed genotyped_positions): called_ref '
    '/ called_variant when a QC-passing (adj) call or reference block / callable region covers '
    'the position, else not_covered (missing or failing call, no record in a joint VCF, plain '
    'VCF of unknown coverage); alt_copies and ploidy are null when not covered.';
