-- Record linkage: one person_key per record, for every source. Everything is idempotent. Nothing here holds a name, a birth date or a CPR
-- number: only pseudonymised keys, source record ids and comparison outcomes, so the
-- schema can stay readable by researchers and reviewers alike.
create schema if not exists linkage;

create table if not exists linkage.runs (
    run_id          text primary key,
    started_at      timestamptz not null default now(),
    finished_at     timestamptz,
    status          text not null check (status in ('running', 'finished', 'failed')),
    upper_threshold double precision not null,
    lower_threshold double precision not null,
    spine_persons   bigint,
    message         text
);
comment on table linkage.runs is 'One row per linkage run (medfollow linkage run).';

create table if not exists linkage.models (
    run_id     text not null,
    model_name text not null,
    sources    text[] not null,
    model      jsonb not null,
    path       text,
    created_at timestamptz not null default now(),
    primary key (run_id, model_name)
);
comment on table linkage.models is 'The trained Splink model (m, u, prior) behind each run''s probabilistic links.';

-- The table the marts join through. For a source with CPR, record_id is the pseudonym as
-- delivered (before CPR changes are resolved); for a source without CPR, the source's own
-- record key (foreign_patient_id, legacy_sample_id).
create table if not exists linkage.person_links (
    source            text not null,
    record_id         text not null,
    person_key        text not null,
    method            text not null check (method in ('deterministic', 'probabilistic', 'review', 'minted')),
    match_probability double precision,
    run_id            text not null,
    primary key (source, record_id)
);
create index if not exists person_links_person_key on linkage.person_links (person_key);
comment on table linkage.person_links is
    'source record -> person_key. method: deterministic (CPR), probabilistic (model above the '
    'upper threshold), review (a reviewer decided), minted (no person found or awaiting review: '
    'a stable key of its own). match_probability: for probabilistic links, the probability that '
    'the record is this person given all its candidates. run_id: the run that decided the link.';

-- Pairs waiting for a human. No names or dates: the record ids and person_keys identify both
-- sides, and "comparison" says how each field compared (level label and Splink gamma), which
-- is what a reviewer weighs. A reviewer with raw-data access looks the two records up.
-- match_probability/match_weight are Splink's for the pair alone; share is the probability
-- that the record is this candidate, with the record's other candidates taken into account
-- (the figure the thresholds apply to).
create table if not exists linkage.review_queue (
    source               text not null,
    record_id            text not null,
    candidate_person_key text not null,
    candidate_rank       integer not null,
    share                double precision,
    match_probability    double precision,
    match_weight         double precision,
    reason               text not null,
    comparison           jsonb not null,
    run_id               text not null,
    primary key (source, record_id, candidate_person_key)
);
comment on table linkage.review_queue is
    'Uncertain, ambiguous or conflicting links awaiting a decision in linkage.review_decisions.';

create table if not exists linkage.review_decisions (
    decision_id bigint generated always as identity primary key,
    source      text not null,
    record_id   text not null,
    person_key  text,
    decision    text not null check (decision in ('match', 'no_match')),
    reviewer    text not null default current_user,
    decided_at  timestamptz not null default now(),
    note        text,
    check (decision = 'no_match' or person_key is not null)
);
create index if not exists review_decisions_record on linkage.review_decisions (source, record_id);
comment on table linkage.review_decisions is
    'Human decisions, respected by every later run. match: the record is this person. '
    'no_match with a person_key: not this person; without: no person in the spine.';

create table if not exists linkage.minted_keys (
    person_key text primary key,
    source     text not null,
    record_id  text not null,
    run_id     text not null
);
comment on table linkage.minted_keys is
    'Person keys minted for records with no person in the CPR register (keyed hash of source and record id).';

create table if not exists linkage.key_history (
    history_id     bigint generated always as identity primary key,
    run_id         text not null,
    source         text not null,
    record_id      text not null,
    old_person_key text not null,
    new_person_key text not null,
    event          text not null check (event in ('cpr_change', 'merge', 'split', 'relink')),
    recorded_at    timestamptz not null default now()
);
create index if not exists key_history_old on linkage.key_history (old_person_key);
comment on table linkage.key_history is
    'Every time a record''s person_key changed: cpr_change (the CPR register replaced a number), '
    'merge (a minted key joined a person), split (a link was undone), relink (moved between persons).';

create table if not exists linkage.quality (
    run_id text not null,
    source text not null,
    metric text not null,
    value  double precision,
    primary key (run_id, source, metric)
);
comment on table linkage.quality is 'Per-run, per-source linkage quality (model estimates and, on synthetic data, truth).';

-- CPR-number succession, defined once for the whole platform: every retired pseudonym and the
-- person's current one. Registries carry the number valid on the event date, so old numbers
-- keep arriving long after a change; chains (A -> B -> C) resolve to their end (at most 25
-- changes deep; a loop stops there). Linkage's deterministic step, and the variant
-- database's opt-outs, resolve persons through this function; the marts through
-- linkage.person_links, which linkage fills from it. Empty until a CPR register with
-- changes has been loaded.
create or replace function linkage.key_succession()
returns table (old_key text, current_key text)
language plpgsql stable
as $fn$
begin
    if to_regclass('raw.cpr__changes') is null then
        return;
    end if;
    return query
        with recursive chain (old_key, current_key, depth) as (
            select c.gammelt_person_key, c.nyt_person_key, 1
              from raw.cpr__changes as c
             where c.gammelt_person_key is not null and c.nyt_person_key is not null
               and c.gammelt_person_key <> c.nyt_person_key
            union all
            select ch.old_key, h.nyt_person_key, ch.depth + 1
              from chain as ch
              join raw.cpr__changes as h on h.gammelt_person_key = ch.current_key
             where ch.depth < 25 and h.nyt_person_key <> ch.old_key
        )
        select distinct on (chain.old_key) chain.old_key, chain.current_key
          from chain
         order by chain.old_key, chain.depth desc, chain.current_key;
end
$fn$;
comment on function linkage.key_succession() is
    'Every retired CPR pseudonym -> the person''s current pseudonym (chains resolved).';
