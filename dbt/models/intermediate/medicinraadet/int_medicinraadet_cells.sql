-- Disclosure control applied once, to every count Medicinrådet receives, so that every
-- export shows the same cell the same way.
{{ suppress_small_counts(
    ref('int_medicinraadet_counts'),
    partition_by=['product_code', 'indication_group', 'measure'],
    part_column='period',
    total_part='total',
    value_column='n'
) }}
