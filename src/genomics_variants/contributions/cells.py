"""Cells: the finest strata, sex x region of residence, that every count is kept by.

Every stored genome belongs to exactly one cell. Published strata (all, XX, XY, each region)
are sums of cells, so a person's contribution can be added and subtracted exactly without
knowing which strata will be published.
"""

from __future__ import annotations

import numpy as np

SEXES: tuple[str, ...] = ("XX", "XY")
# Danish regions of residence as CPR codes them, and the stratum name of each.
REGION_NAMES: dict[str, str] = {
    "1081": "nordjylland",
    "1082": "midtjylland",
    "1083": "syddanmark",
    "1084": "hovedstaden",
    "1085": "sjaelland",
}
UNKNOWN_REGION = "unknown"
REGIONS: tuple[str, ...] = (*REGION_NAMES.values(), UNKNOWN_REGION)
N_CELLS = len(SEXES) * len(REGIONS)


def region_name(code: str | None) -> str:
    """Stratum name of a CPR region code; `unknown` when absent or unrecognised."""
    return REGION_NAMES.get((code or "").strip(), UNKNOWN_REGION)


def _index_in(names: tuple[str, ...], values: np.ndarray) -> np.ndarray:
    """Position of each value in `names` (all values must be among them)."""
    order = np.argsort(names)
    return order[np.searchsorted(np.asarray(names)[order], np.asarray(values, dtype=str))]


def cell_of(sex: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Cell index per sample from sex (XX/XY) and region stratum name arrays."""
    return (_index_in(SEXES, sex) * len(REGIONS) + _index_in(REGIONS, region)).astype(np.int64)


def cells_of_sex(sex: str) -> np.ndarray:
    """The cells of one sex."""
    start = SEXES.index(sex) * len(REGIONS)
    return np.arange(start, start + len(REGIONS))


def cells_of_region(region: str) -> np.ndarray:
    """The cells of one region (both sexes)."""
    return REGIONS.index(region) + len(REGIONS) * np.arange(len(SEXES))
