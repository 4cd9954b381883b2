{#- linkage.person_links is built by the record-linkage job (src/rwd_linkage), which may not
    have run yet. Without it the model is empty and the build says so with a warning:
    patients treated abroad then stay missing from the marts (see fct_atmp_treatment).
    Materialised as a table, not a view, so that the marts never pin the linkage job's table
    definition (a dependent view would block it from altering or replacing the table). -#}
{{ config(materialized='table') }}

{%- set links = source('linkage', 'person_links') -%}

{% if relation_exists(links) %}

    select
        source as source_name,
        record_id,
        person_key,
        method as link_method,
        match_probability
    from {{ links }}

{% else %}

    {%- if execute -%}
    {%- do exceptions.warn(
        "linkage.person_links does not exist: patients treated abroad (cross-border extract) "
        ~ "cannot be linked and are missing from fct_atmp_treatment and the follow-up marts"
    ) -%}
    {%- endif -%}

    select
        null::text as source_name,
        null::text as record_id,
        null::text as person_key,
        null::text as link_method,
        null::double precision as match_probability
    where false

{% endif %}
