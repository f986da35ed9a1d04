"""pytest-benchmark suites: run with `pytest bench --benchmark-only` (not part of the tests).

Threads are pinned to one before NumPy loads, as on a shared 2-core machine
a spinning BLAS pool collapses when another process holds a core.
"""
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    import fastnn  # noqa: F401
except ImportError:  # a source checkout built in place
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
