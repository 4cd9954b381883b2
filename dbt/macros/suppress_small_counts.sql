{#- Superseded for everything that leaves the platform: the exports are protected by the
    release step (src/medicinraadet_release/protection.py: exact cell suppression over all
    linked tables, complements, survival and earlier releases, with an audit). This
    heuristic protects each total on its own and only checks the sum of its hidden parts,
    which the audit shows can pin hidden cells; it remains only for int_medicinraadet_cells.

    Statistical disclosure control for a long table of counts that add up to published
    totals. `relation` has one row per cell; the cells sharing the `partition_by` columns
    are the parts of one total, and the row whose `part_column` equals `total_part` is that
    total (itself published, or suppressed when small).

    Primary suppression: a count of 1 to threshold - 1 is shown as "<threshold"
    (threshold: var('disclosure_threshold') unless given; 0 is shown).

    Secondary suppression: a hidden part must not be recoverable from the total by
    subtraction. The non-zero parts are taken smallest first (the primary ones come first,
    being the smallest) and the shortest run holding every primary cell is hidden such that
      * at least two parts are hidden,
      * together they hold at least `threshold` persons, and
      * their sum is not at either extreme of what a reader can infer (every "<T" cell at
        1 and every secondary cell at T; or every "<T" cell at T - 1 and every secondary
        cell at the next published part), where each hidden cell would be determined.
    Secondary cells are shown as "x". When no run qualifies, every non-zero part is hidden.

    Adds: is_primary, suppression ('primary' | 'secondary' | null), display_value (text). -#}
{% macro suppress_small_counts(relation, partition_by, part_column, total_part, value_column='n', threshold=none) %}
{%- set t = threshold if threshold is not none else var('disclosure_threshold') -%}
{%- set keys = partition_by | join(', ') -%}
with sdc_cells as (
    select
        *,
        {{ value_column }} > 0 and {{ value_column }} < {{ t }} as is_primary
    from {{ relation }}
),

sdc_parts as (
    select
        {{ keys }},
        {{ part_column }},
        {{ value_column }},
        count(*) filter (where is_primary) over sdc_group as primary_parts,
        count(*) over sdc_group as nonzero_parts,
        row_number() over sdc_ordered as size_rank,
        sum({{ value_column }}) over (
            sdc_ordered rows between unbounded preceding and current row
        ) as hidden_sum,
        lead({{ value_column }}) over sdc_ordered as next_value
    from sdc_cells
    where
        {{ part_column }} <> '{{ total_part }}'
        and {{ value_column }} > 0
    window
        sdc_group as (partition by {{ keys }}),
        sdc_ordered as (partition by {{ keys }} order by {{ value_column }}, {{ part_column }})
),

sdc_runs as (
    select
        *,
        size_rank - primary_parts as secondary_parts,
        primary_parts > 0
        and size_rank >= primary_parts
        and size_rank >= 2
        and hidden_sum >= {{ t }}
        and hidden_sum <> primary_parts + (size_rank - primary_parts) * {{ t }}
        and not (
            (size_rank = primary_parts and hidden_sum = primary_parts * ({{ t }} - 1))
            or (
                size_rank > primary_parts
                and next_value is not null
                and hidden_sum = primary_parts * ({{ t }} - 1) + (size_rank - primary_parts) * next_value
            )
        ) as run_is_safe
    from sdc_parts
),

sdc_cut as (
    select
        {{ keys }},
        coalesce(
            min(size_rank) filter (where run_is_safe),
            max(nonzero_parts)
        ) as hidden_parts
    from sdc_runs
    where primary_parts > 0
    group by {{ keys }}
),

sdc_marked as (
    select
        c.*,
        case
            when c.is_primary then 'primary'
            when r.size_rank <= k.hidden_parts then 'secondary'
        end as suppression
    from sdc_cells as c
    left join sdc_runs as r
        on
            {% for key in partition_by -%}
            c.{{ key }} = r.{{ key }} and
            {% endfor -%}
            c.{{ part_column }} = r.{{ part_column }}
    left join sdc_cut as k
        on
            {% for key in partition_by -%}
            c.{{ key }} = k.{{ key }}{{ " and" if not loop.last }}
            {% endfor %}
)

select
    *,
    case suppression
        when 'primary' then '<{{ t }}'
        when 'secondary' then 'x'
        else {{ value_column }}::text
    end as display_value
from sdc_marked
{% endmacro %}
