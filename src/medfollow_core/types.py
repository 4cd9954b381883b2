"""Types, and typing helpers, shared across packages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Progress = Callable[[str, int, int], None]
"""A progress callback: ``(what is being done, units done, units in all)``; the total is 0
when it is not known in advance. The CLI draws a bar from it; the DAGs pass none."""


def where_else_null(mask: npt.ArrayLike, values: npt.ArrayLike) -> np.ndarray:
    """``np.where(mask, values, None)``: an object array with None where `mask` is False.

    numpy's type stubs do not accept a bare None as a branch of `np.where` (numpy itself does,
    as a 0-d object array), so the None is spelt as that array here; the result is the same.
    """
    return np.where(mask, values, np.array(None, dtype=object))
