{#- Schemas are part of the access model (raw/staging for engineers, marts/exports for
    researchers), so a model's configured schema is used as-is, never prefixed. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
