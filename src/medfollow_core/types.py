"""Types shared across packages."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""A progress callback: ``(what is being done, units done, units in all)``; the total is 0
when it is not known in advance. The CLI draws a bar from it; the DAGs pass none."""
