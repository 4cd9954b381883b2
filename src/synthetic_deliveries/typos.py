"""Realistic identity corruption for extracts that arrive without CPR.

Used by the legacy biobank extract and the cross-border outcome extract, whose records
must be linked back to persons by name, birth date and address.
"""

from __future__ import annotations

import numpy as np

_TO_ASCII = (("æ", "ae"), ("ø", "oe"), ("å", "aa"), ("Æ", "Ae"), ("Ø", "Oe"), ("Å", "Aa"))
_LETTERS = "abcdefghijklmnoprstuvy"


def one_letter_typo(rng: np.random.Generator, text: str) -> str:
    """Substitute, drop, double or swap one letter (never the first)."""
    if len(text) < 3:
        return text
    i = int(rng.integers(1, len(text) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return text[:i] + _LETTERS[int(rng.integers(0, len(_LETTERS)))] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def transliterate(text: str) -> str:
    """æ→ae, ø→oe, å→aa, as foreign systems without Danish letters write them."""
    for danish, ascii_form in _TO_ASCII:
        text = text.replace(danish, ascii_form)
    return text


def danicise(text: str) -> str:
    """The reverse mistake: aa→å (Aagaard → Ågård), oe→ø, ae→æ."""
    for danish, ascii_form in reversed(_TO_ASCII):
        text = text.replace(ascii_form, danish)
    return text
