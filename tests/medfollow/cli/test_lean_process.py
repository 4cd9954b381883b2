"""What a variant command's process skips loading: pandas (pyarrow's probe) and OpenBLAS's
threads; pyarrow still finds pandas where it is asked for by name. In a subprocess: the
settings hold for the whole process."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys
from medfollow.cli.variants import lean_process
lean_process()
import numpy as np, pyarrow as pa
pa.array(np.arange(3)); pa.array([1, None]); pa.table({"a": ["x"]})
assert "pandas" not in sys.modules, "pandas imported"
assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
frame = pa.table({"a": [1, None]}).to_pandas()
assert pa.Table.from_pandas(frame).column("a").null_count == 1
print("ok")
"""


def test_a_variant_process_skips_pandas_yet_pyarrow_still_converts_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
