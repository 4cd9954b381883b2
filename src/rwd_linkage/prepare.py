"""Normalise identifying fields inside DuckDB so that spelling, not meaning, stops mattering.

Linkage compares *normalised* values. Each function here returns DuckDB SQL expressions
(column name → expression) that turn one raw field into the columns the comparisons need;
the work stays vectorised in DuckDB, which matters for a million-person spine.

Danish specifics handled here, once, for every caller:

* æ/ø/å and their foreign spellings. Extracts written abroad use ae/oe/aa (or ä/ö), and the
  reverse mistake (Aagaard → Ågård) also happens. Folding every variant to ASCII digraphs
  (æ, ä → ae; ø, ö → oe; å → aa) makes all of them compare equal.
* Double surnames. ``Hansen-Jensen`` and ``Hansen Jensen`` fold to the same string, and the
  name is also kept as a token list so that ``Jensen`` alone still shares a token with it.
* Dates written abroad. Birth dates arrive as text in several layouts; they are parsed
  into a date plus its year/month/day parts, so that a swapped day and month or a one-digit
  typo can be recognised by the comparisons instead of simply failing to parse.
"""

from __future__ import annotations

from collections.abc import Sequence

# Tried in order; the first layout that gives a valid date wins. Day-first comes before
# month-first because Nordic extracts write day first; month-first only rescues a date
# whose day and month were swapped into an impossible day-first reading (e.g. 03-25-1970).
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%d-%m-%Y",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%Y%m%d",
    "%d%m%Y",
    "%m-%d-%Y",
)

_FOLDS = (
    ("æ", "ae"),
    ("ä", "ae"),
    ("ø", "oe"),
    ("ö", "oe"),
    ("å", "aa"),
    ("ü", "ue"),
    ("ß", "ss"),
    ("ð", "d"),
    ("þ", "th"),
)

_MALE = ("1", "m", "male", "man", "mand", "mann", "mies", "h")
_FEMALE = ("2", "f", "k", "w", "female", "woman", "kvinde", "kvinna", "kvinne", "n", "nainen")


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def fold(expr: str) -> str:
    """Lower-case ASCII letters and single spaces; NULL when nothing is left.

    Punctuation and hyphens become spaces, so ``Hansen-Jensen`` equals ``Hansen Jensen``.
    """
    text = f"lower(cast({expr} as varchar))"
    for letter, ascii_form in _FOLDS:
        text = f"replace({text}, {literal(letter)}, {literal(ascii_form)})"
    text = f"regexp_replace(strip_accents({text}), '[^a-z]+', ' ', 'g')"
    return f"nullif(trim({text}), '')"


def tokens(folded: str) -> str:
    """The words of an already folded expression, as a list (NULL stays NULL)."""
    return f"string_split({folded}, ' ')"


def name_columns(out: str, expr: str) -> dict[str, str]:
    """``out`` (the folded name) and ``out__tokens`` (its words)."""
    return {out: fold(expr), f"{out}__tokens": tokens(fold(expr))}


def first_token(folded: str) -> str:
    """The first word of a folded name: the given name people are actually called by."""
    return f"nullif(split_part({folded}, ' ', 1), '')"


def date_columns(
    out: str, expr: str, formats: Sequence[str] = DEFAULT_DATE_FORMATS
) -> dict[str, str]:
    """A parsed date and the parts the date comparison needs.

    ``out`` is the date, ``out__y/__m/__d`` its parts, ``out__digits`` the YYYYMMDD text (for
    one-digit typos) and ``out__swapped`` the date with day and month exchanged (NULL when
    that is impossible or the same date), used by blocking to find swapped birth dates.
    """
    fmts = "[" + ", ".join(literal(f) for f in formats) + "]"
    parsed = f"cast(try_strptime(trim(cast({expr} as varchar)), {fmts}) as date)"
    return {
        out: parsed,
        f"{out}__y": f"year({parsed})",
        f"{out}__m": f"month({parsed})",
        f"{out}__d": f"day({parsed})",
        f"{out}__digits": f"strftime({parsed}, '%Y%m%d')",
        f"{out}__swapped": (
            f"case when day({parsed}) <= 12 and day({parsed}) <> month({parsed}) "
            f"then make_date(year({parsed}), day({parsed}), month({parsed})) end"
        ),
    }


def sex_column(expr: str) -> str:
    """'1' (male) or '2' (female) from the codes and words Nordic systems use."""
    value = f"lower(trim(cast({expr} as varchar)))"
    male = ", ".join(literal(v) for v in _MALE)
    female = ", ".join(literal(v) for v in _FEMALE)
    return f"case when {value} in ({male}) then '1' when {value} in ({female}) then '2' end"


def code_column(expr: str, *, strip_zeros: bool = False) -> str:
    """A code as upper-case letters and digits; NULL when empty.

    With ``strip_zeros`` leading zeros of a numeric code go (``0851`` and ``851`` are the
    same municipality); postcodes keep them, their leading digits mean an area.
    """
    text = f"upper(regexp_replace(cast({expr} as varchar), '[^0-9A-Za-z]+', '', 'g'))"
    if strip_zeros:
        text = (
            f"case when regexp_full_match({text}, '[0-9]+') then ltrim({text}, '0') else {text} end"
        )
    return f"nullif({text}, '')"


def text_column(expr: str) -> str:
    """Trimmed, lower-case text; NULL when empty."""
    return f"nullif(lower(trim(cast({expr} as varchar))), '')"


def select_list(columns: dict[str, str]) -> str:
    """``expr as "name", ...`` for a SELECT."""
    return ",\n       ".join(f'{expr} as "{name}"' for name, expr in columns.items())
