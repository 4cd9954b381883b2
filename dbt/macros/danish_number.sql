{#- Parse a number written the Danish way ("4,91", "1.234,5") out of delivered text.
    Censoring signs ("<0,5", ">100") are stripped (the caller records the direction).
    When a comma is present it is the decimal mark and dots are thousands separators;
    without a comma a dot is read as the decimal mark. Anything else yields null rather
    than a failed cast, so one odd value cannot stop a build. -#}
{% macro danish_number(column) -%}
    {%- set stripped -%}btrim(ltrim(btrim({{ column }}), '<>=≤≥ ')){%- endset -%}
    {%- set normalised -%}
        case
            when {{ stripped }} like '%,%' then replace(replace({{ stripped }}, '.', ''), ',', '.')
            else {{ stripped }}
        end
    {%- endset -%}
    case
        when ({{ normalised }}) ~ '^[+-]?[0-9]+(\.[0-9]+)?$' then ({{ normalised }})::numeric
    end
{%- endmacro %}
