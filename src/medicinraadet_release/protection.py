"""Secondary cell suppression as an exact integer program, solved by HiGHS (scipy's milp).

The formulation is the classical one of Fischetti and Salazar, which τ-ARGUS's optimal
method also solves: choose the cheapest set of cells to hide such that every sensitive cell
keeps, against a reader who solves linear programs over everything published, the range it
must keep. The reader's problem is not written into the master problem up front; it is
added lazily as Benders-style cuts:

1. solve the master: minimise the cost of the hidden cells subject to the cuts so far;
2. audit that pattern with the reader's linear programs (`cells.LinkedTable`);
3. for every requirement broken, the LP's bound sensitivities name the published cells
   that hold the reader's bound where it is. Unless one of them is hidden (or, for a
   secondary cell found pinned, that cell is shown instead), the same dual certificate
   still holds, so "hide one of them" is a valid cut: add it and go to 1.

Hiding a cell only widens what a reader knows of it (a shown count v ≥ T becomes "x":
at least T; "<T" or 0 becomes "≤T−1": 0..T−1), which is what makes the cuts valid. The loop ends with a pattern
the audit accepts, and the cuts never exclude a pattern that protects, so the result is
optimal for the cost. `Unprotectable` means that even hiding every count is not enough:
a listed year had at least one patient, so three treatment years of one patient each
under a total of "<5" leave each year at 1 or 2 whatever is shown. The caller then
publishes fewer cells (the total without its years).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from medicinraadet_release.cells import (
    HORIZONS,
    TOTAL,
    Failure,
    Key,
    LinkedTable,
    Marker,
    Requirement,
    high_end_breaks,
    low_end_breaks,
    small_cell_requirements,
)

MAX_ROUNDS = 200
_EVENT_MEASURES = frozenset(HORIZONS.values())


class Unprotectable(Exception):
    """No pattern of hidden cells protects this table; carries the first failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


def protect(
    table: LinkedTable,
    values: Mapping[Key, int],
    threshold: int,
    *,
    eligible_events: frozenset[Key] = frozenset(),
    extra: Sequence[Requirement] = (),
) -> dict[Key, Marker]:
    """The cheapest publication of `values` that passes the audit.

    By default a count of 1..T−1 is "<T" and a zero is shown; the integer program may
    widen either to "≤T−1" (0..T−1: when "<T" cells summing to a small total would pin
    each other) and may hide a count ≥ T as "x". An events cell (deaths by a horizon) is published,
    through its survival estimate, only when it is in `eligible_events`, is 0 or ≥ T, and
    the program keeps it. `extra` are further requirements (changes since the previous
    release); the counts they name are hidden.
    """
    forced_hidden = {r.terms[0][0] for r in extra if len(r.terms) == 1}
    fixed: dict[Key, Marker] = {}
    choices: list[Key] = []
    for key in table.keys:
        value = values[key]
        if key[1] in _EVENT_MEASURES:
            eligible = key in eligible_events and not 1 <= value < threshold
            fixed_marker = None if eligible and key not in forced_hidden else Marker.BLANK
        else:
            fixed_marker = Marker.HIDDEN if key in forced_hidden and value >= threshold else None
        if fixed_marker is None:
            choices.append(key)
        else:
            fixed[key] = fixed_marker
    requirements = [*small_cell_requirements(table, values, threshold), *extra]
    cuts: list[tuple[dict[int, float], float]] = []
    for _ in range(MAX_ROUNDS):
        hidden = _solve_master(choices, values, threshold, cuts)
        markers = {
            **fixed,
            **{k: _marker(k, values[k], k in hidden, threshold) for k in choices},
        }
        bounds = {k: table.bounds(k, m, values[k], threshold) for k, m in markers.items()}
        pinned = [
            Requirement(((k, 1),), f"{k[0]} {k[1]}", min_width=1, showable=k)
            for k, m in markers.items()
            if m is Marker.HIDDEN
        ]
        failures = table.failures([*requirements, *pinned], bounds)
        if not failures:
            return markers
        new_cuts = [_cut(f, choices, hidden) for f in failures]
        if any(cut is None for cut in new_cuts):
            raise Unprotectable(failures[[c is None for c in new_cuts].index(True)])
        cuts.extend(c for c in new_cuts if c is not None)
    raise Unprotectable(failures[0])


def _marker(key: Key, value: int, hidden: bool, threshold: int) -> Marker:
    if key[1] in _EVENT_MEASURES:
        return Marker.BLANK if hidden else Marker.SHOWN
    if value >= threshold:
        return Marker.HIDDEN if hidden else Marker.SHOWN
    if hidden:
        return Marker.SUPPRESSED
    return Marker.SMALL if value else Marker.SHOWN


def _cost(key: Key, value: int, threshold: int) -> float:
    """Information lost by hiding a cell: "<T" widened to "≤T−1" loses least (only that it
    is not 0), a zero more; a total or a survival estimate costs more than a year's count,
    and a larger count slightly more than a smaller one."""
    if key[1] not in _EVENT_MEASURES and value < threshold:
        return 0.3 if value else 1.0
    base = 2.0 if key[0] == TOTAL else 1.0
    if key[1] in _EVENT_MEASURES:
        base += 0.5
    return base + value / 10_000


def _solve_master(
    choices: list[Key],
    values: Mapping[Key, int],
    threshold: int,
    cuts: list[tuple[dict[int, float], float]],
) -> set[Key]:
    """min Σ cost·h over binary h subject to every cut Σ a·h ≥ b."""
    if not choices:
        return set()
    cost = np.array([_cost(k, values[k], threshold) for k in choices])
    constraints = []
    if cuts:
        matrix = np.zeros((len(cuts), len(choices)))
        lower = np.zeros(len(cuts))
        for row, (coefficients, rhs) in enumerate(cuts):
            for column, a in coefficients.items():
                matrix[row, column] = a
            lower[row] = rhs
        constraints.append(LinearConstraint(matrix, lower, np.inf))
    result = milp(
        cost,
        constraints=constraints,
        integrality=np.ones(len(choices)),
        bounds=Bounds(0, 1),
    )
    if result.status != 0 or result.x is None:
        raise ValueError(f"the suppression problem has no solution ({result.message})")
    return {k for k, h in zip(choices, result.x, strict=True) if h > 0.5}


def _cut(
    failure: Failure, choices: list[Key], hidden: set[Key]
) -> tuple[dict[int, float], float] | None:
    """Hide one of the shown cells that hold the reader's bound (a secondary cell found
    pinned may instead be shown); None when no such cell exists."""
    requirement, found = failure.requirement, failure.range
    position = {k: i for i, k in enumerate(choices)}
    binding: set[Key] = set()
    if low_end_breaks(requirement, found):
        binding |= found.low_binding
    if high_end_breaks(requirement, found):
        binding |= found.high_binding
    coefficients = {position[k]: 1.0 for k in binding if k in position and k not in hidden}
    rhs = 1.0
    if requirement.showable in position:
        coefficients[position[requirement.showable]] = -1.0
        rhs = 0.0
    if not coefficients:
        return None
    return coefficients, rhs
