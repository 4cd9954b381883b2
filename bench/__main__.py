"""``make bench``: every benchmark, each running our code and the reference tool side by side.

    python -m bench            # all
    python -m bench ingest     # one (ingest, linkage, variants, spark, api, serving, dags)

Benchmarks are slow and machine-dependent; they never run in ``make test``.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHMARKS = ("ingest", "linkage", "variants", "spark", "api", "serving", "dags")


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    print(f"machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}")
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        sys.argv = [f"bench.{name}"]
        importlib.import_module(f"bench.{name}").main()
        print(f"({name}: {time.perf_counter() - started:.0f} s)")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
