{#- True when `relation` exists in the warehouse right now. For inputs owned by another job
    that may not have run yet (linkage.person_links); false at parse time, when nothing
    can be looked up. -#}
{% macro relation_exists(relation) %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {{ return(found is not none) }}
{% endmacro %}
