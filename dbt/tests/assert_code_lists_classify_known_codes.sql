-- The code lists classify the codes the review found missing or wrong: kinase inhibitors
-- (L01E, and L01XE before 2022), antibodies (L01XC before 2022), another CAR-T (L01XL) and
-- the IMiDs are antineoplastic (subsequent therapy); low-dose methotrexate L04AX03 is not.
-- Returns each code whose class (longest matching prefix of atc_classification) is wrong.
with expected as (
    select *
    from (
        values
        ('L01EL01', 'antineoplastic'),
        ('L01XE27', 'antineoplastic'),
        ('L01XC02', 'antineoplastic'),
        ('L01FA01', 'antineoplastic'),
        ('L01XL08', 'antineoplastic'),
        ('L04AX04', 'antineoplastic'),
        ('L04AX03', 'immunosuppressant'),
        ('L04AC07', 'immunosuppressant'),
        ('B02BD04', 'factor_ix_concentrate')
    ) as e (atc_code, atc_class)
),

classified as (
    select distinct on (e.atc_code)
        e.atc_code,
        c.atc_class
    from expected as e
    inner join {{ ref('atc_classification') }} as c
        on e.atc_code like c.atc_prefix || '%'
    order by e.atc_code asc, length(c.atc_prefix) desc
)

select
    e.atc_code,
    e.atc_class as expected_class,
    c.atc_class as found_class
from expected as e
left join classified as c
    on e.atc_code = c.atc_code
where c.atc_class is distinct from e.atc_class
