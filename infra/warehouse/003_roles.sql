-- Researcher access: medfollow_researcher is a read-only group role (NOLOGIN) that sees the
-- documented, pseudonymised research schemas - marts and exports - and nothing else: never
-- raw, quarantine, audit or staging (row-level registry data before validation and
-- derivation), and not linkage either, whose person_links pair person_keys with the source
-- systems' own record ids (a foreign hospital's patient id, a legacy biobank sample id):
-- identifiers outside the pseudonymisation.
--
-- Give a person access by making them a member (as a role with CREATEROLE):
--     create role alice login password '...' in role medfollow_researcher;
--     -- or, for an existing login:  grant medfollow_researcher to alice;
-- and take it away with:  revoke medfollow_researcher from alice;
--
-- dbt replaces the mart tables on every build; the default privileges below make each new
-- table readable. They apply to tables created by the role that runs this file, which is
-- also the role dbt connects as (both use the platform DSN). If dbt runs as another role,
-- add `for role <that role>` to the two `alter default privileges` statements.
--
-- Idempotent, and harmless where the platform's role may not create roles: then it only
-- raises a notice and a DBA creates medfollow_researcher once.
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'medfollow_researcher') then
        if exists (
            select from pg_catalog.pg_roles
            where rolname = current_user and (rolsuper or rolcreaterole)
        ) then
            begin
                create role medfollow_researcher nologin;
                comment on role medfollow_researcher is
                    'Read-only research access to marts and exports (grant membership to researcher logins).';
            exception when duplicate_object then
                null;  -- created meanwhile by a concurrent bootstrap of another database
            end;
        else
            raise notice 'medfollow_researcher does not exist and % may not create roles: '
                'ask a DBA to run "create role medfollow_researcher nologin" and bootstrap again',
                current_user;
            return;
        end if;
    end if;

    grant usage on schema marts, exports to medfollow_researcher;
    grant select on all tables in schema marts, exports to medfollow_researcher;
    alter default privileges in schema marts grant select on tables to medfollow_researcher;
    alter default privileges in schema exports grant select on tables to medfollow_researcher;

    -- Engineers' schemas: nothing, now or later (also undoes any earlier manual grant).
    revoke all on schema raw, quarantine, audit, linkage from medfollow_researcher;
    revoke all on all tables in schema raw, quarantine, audit, linkage from medfollow_researcher;
    if exists (select from pg_catalog.pg_namespace where nspname = 'staging') then
        revoke all on schema staging from medfollow_researcher;
        revoke all on all tables in schema staging from medfollow_researcher;
    end if;
end
$$;
