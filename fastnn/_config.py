"""Build and runtime facts: compiled kernels, dtypes, BLAS, thread counts."""
import importlib
import os
import pkgutil
import sys


_in_forked_child = False


def _after_fork_in_child():
    # libgomp's thread pool does not survive fork(): a parallel region in the
    # child waits forever for threads that only the parent has.
    global _in_forked_child
    _in_forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def usable_threads(requested):
    """``requested`` threads, or 1 in a process made by ``fork()`` (see num_threads)."""
    return 1 if _in_forked_child else requested


def num_threads():
    """Threads fastnn's own parallel loops may use.

    ``FASTNN_NUM_THREADS``, else ``OMP_NUM_THREADS``, else 1: on a shared
    machine a spinning thread pool loses more than it gains, so going
    parallel is the user's choice.  Always 1 in a child made by
    ``os.fork()`` (or a ``fork`` multiprocessing context): OpenMP's thread
    pool does not survive a fork, and a parallel loop there would hang.
    """
    if _in_forked_child:
        return 1
    for var in ("FASTNN_NUM_THREADS", "OMP_NUM_THREADS"):
        val = os.environ.get(var, "").strip()
        if val:
            try:
                n = int(val.split(",")[0])
            except ValueError:
                raise ValueError("%s must be a positive integer, got %r" % (var, val)) from None
            if n < 1:
                raise ValueError("%s must be a positive integer, got %r" % (var, val))
            return n
    return 1


def compiled_kernels():
    """{family: True/False or the import error} for each kernel module in the package."""
    from . import _kernels
    found = {}
    for mod in pkgutil.iter_modules(_kernels.__path__):
        try:
            importlib.import_module("fastnn._kernels." + mod.name)
            found[mod.name] = True
        except ImportError as exc:  # pragma: no cover - a broken build
            found[mod.name] = "not importable: %s" % exc
    return found


def _blas_info():
    lines = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            lines.append("%s %s (%s), %s threads: %s" % (
                pool.get("internal_api"), pool.get("version"), pool.get("architecture"),
                pool.get("num_threads"), pool.get("filepath")))
    else:
        try:
            import scipy
            cfg = scipy.show_config(mode="dicts")
            blas = cfg["Build Dependencies"]["blas"]
            lines.append("scipy BLAS: %s %s (install threadpoolctl for thread counts)"
                         % (blas.get("name"), blas.get("version")))
        except Exception as exc:  # pragma: no cover - depends on scipy's build
            lines.append("BLAS info unavailable: %s" % exc)
    return lines


def show_config(file=None):
    """Print the version, compiled kernels, dtypes, BLAS libraries and thread counts."""
    import numpy as np
    from . import __version__
    from ._backend import get_backend
    out = file or sys.stdout
    print("fastnn %s (distribution fastnn-scratch)" % __version__, file=out)
    print("python %s, numpy %s" % (sys.version.split()[0], np.__version__), file=out)
    print("default backend: %s" % get_backend().name, file=out)
    print("compiled kernels:", file=out)
    for name, ok in sorted(compiled_kernels().items()):
        print("  %-12s %s" % (name, "yes" if ok is True else ok), file=out)
    print("kernel dtypes: float32, float64", file=out)
    print("fastnn threads: %d (FASTNN_NUM_THREADS / OMP_NUM_THREADS)" % num_threads(), file=out)
    print("BLAS:", file=out)
    for line in _blas_info():
        print("  " + line, file=out)
