"""Splink comparisons per kind of field, over the columns that ``prepare`` derives.

Each comparison is a short ladder of levels from "identical" to "different", chosen for the
errors identifying data really carries (a typo, a dropped or extra name part, a swapped day
and month). The levels only say *how* two values agree; how much each level is worth is
estimated from the data (u by random sampling, m by EM), never set here.

Level labels are written for a human reviewer: they are stored with every review-queue
item, in place of the names themselves.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator


def _null(column: str) -> ComparisonLevelCreator:
    level = cll.CustomLevel(f'"{column}_l" is null or "{column}_r" is null', "missing")
    return level.configure(is_null_level=True)


def _exact(column: str, *, term_frequencies: bool) -> ComparisonLevelCreator:
    level = cll.ExactMatchLevel(column).configure(label_for_charts="exact")
    if term_frequencies:
        level.configure(tf_adjustment_column=column)
    return level


def name(
    column: str, *, overlap: str | None = None, term_frequencies: bool = True
) -> ComparisonCreator:
    """A name: exact (weighted by how common the name is), a typo, sharing a name part,
    similar, different.

    ``overlap`` is the SQL condition for "shares a name part" (default: the token lists of
    the two values intersect), which is how double surnames and dropped middle names show.
    """
    shares = overlap or f'list_has_any("{column}__tokens_l", "{column}__tokens_r")'
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(column),
            _exact(column, term_frequencies=term_frequencies),
            cll.CustomLevel(
                f'jaro_winkler_similarity("{column}_l", "{column}_r") >= 0.92',
                "one-letter difference (jaro-winkler >= 0.92)",
            ),
            cll.CustomLevel(shares, "shares a name part"),
            cll.CustomLevel(
                f'jaro_winkler_similarity("{column}_l", "{column}_r") >= 0.8',
                "similar (jaro-winkler >= 0.8)",
            ),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def date(column: str) -> ComparisonCreator:
    """A date: exact, day and month swapped, one typo away, different.

    "One typo away" covers one changed digit and a neighbouring day or year (1959 → 1960
    changes two digits but is one slip of the pen).
    """
    y, m, d = (f"{column}__{p}" for p in "ymd")
    near = (
        f'levenshtein("{column}__digits_l", "{column}__digits_r") <= 1 '
        f'or ("{m}_l" = "{m}_r" and "{d}_l" = "{d}_r" and abs("{y}_l" - "{y}_r") = 1) '
        f'or ("{y}_l" = "{y}_r" and "{m}_l" = "{m}_r" and abs("{d}_l" - "{d}_r") = 1)'
    )
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(column),
            cll.CustomLevel(f'"{column}_l" = "{column}_r"', "exact"),
            cll.CustomLevel(
                f'"{y}_l" = "{y}_r" and "{m}_l" = "{d}_r" and "{d}_l" = "{m}_r"',
                "day and month swapped",
            ),
            cll.CustomLevel(near, "one typo away"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def postcode(column: str) -> ComparisonCreator:
    """A postcode or zip code: exact, one typo, same area (first half), different."""
    half = f'greatest(1, length("{column}_l") // 2)'
    area = f'left("{column}_l", {half}) = left("{column}_r", {half})'
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(column),
            _exact(column, term_frequencies=False),
            cll.CustomLevel(f'damerau_levenshtein("{column}_l", "{column}_r") <= 1', "one typo"),
            cll.CustomLevel(area, "same area"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def text(column: str) -> ComparisonCreator:
    """Free text (a city, an address line): exact, close, similar, different."""
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(column),
            _exact(column, term_frequencies=True),
            cll.CustomLevel(
                f'jaro_winkler_similarity("{column}_l", "{column}_r") >= 0.9',
                "close (jaro-winkler >= 0.9)",
            ),
            cll.CustomLevel(
                f'jaro_winkler_similarity("{column}_l", "{column}_r") >= 0.7',
                "similar (jaro-winkler >= 0.7)",
            ),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def exact(column: str) -> ComparisonCreator:
    """A code that either agrees or not (sex, a country code)."""
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            _null(column),
            _exact(column, term_frequencies=False),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def residence(postcode_col: str, municipality_col: str) -> ComparisonCreator:
    """Where a person lives, from postcode and municipality together.

    The two are one fact seen twice (a postcode lies in a municipality); as separate
    comparisons their evidence would be counted twice, so they form one ladder: same
    postcode, same municipality, same postal area, different.
    """
    p, k = postcode_col, municipality_col
    missing = f'("{p}_l" is null or "{p}_r" is null) and ("{k}_l" is null or "{k}_r" is null)'
    return cl.CustomComparison(
        output_column_name="residence",
        comparison_levels=[
            cll.CustomLevel(missing, "missing").configure(is_null_level=True),
            cll.CustomLevel(f'"{p}_l" = "{p}_r"', "same postcode"),
            cll.CustomLevel(f'"{k}_l" = "{k}_r"', "same municipality"),
            cll.CustomLevel(f'left("{p}_l", 2) = left("{p}_r", 2)', "same postal area"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )
