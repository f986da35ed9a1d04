"""Build and runtime facts: compiled kernels, dtypes, BLAS, thread counts."""
import importlib
import math
import numbers
import os
import pkgutil
import sys


#: The most threads fastnn's pool may be given: 4 per CPU of the machine,
#: and never more than 1024.  More only queue behind each other (the OpenMP
#: runtime fastnn used before crashed the process past what it could start).
def max_threads():
    """The cap on fastnn's thread count: 4 x the machine's CPUs, at most 1024."""
    return max(1, min(1024, 4 * (os.cpu_count() or 1)))


def check_thread_count(n, name="n"):
    """``n`` as an int if it is a whole number from 1 to :func:`max_threads`;
    otherwise a TypeError or ValueError naming ``name``."""
    cap = max_threads()
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError("%s must be a whole number of threads from 1 to %d, got %r"
                        % (name, cap, n))
    n = int(n)
    if not 1 <= n <= cap:
        raise ValueError("%s must be from 1 to %d (4 per CPU of this machine), got %d"
                         % (name, cap, n))
    return n


def _cgroup_cpu_limit(proc_cgroup="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """CPUs allowed by this process's cgroup quota (v2 ``cpu.max`` or v1
    ``cfs_quota_us``/``cfs_period_us``), or None when there is none."""
    try:
        with open(proc_cgroup) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].lstrip("/")
        if parts[0] == "0" and parts[1] == "":
            candidates = [(os.path.join(root, path, "cpu.max"), None),
                          (os.path.join(root, "cpu.max"), None)]
        elif "cpu" in parts[1].split(","):
            base = os.path.join(root, parts[1])
            candidates = [(os.path.join(base, path, "cpu.cfs_quota_us"),
                           os.path.join(base, path, "cpu.cfs_period_us")),
                          (os.path.join(base, "cpu.cfs_quota_us"),
                           os.path.join(base, "cpu.cfs_period_us"))]
        else:
            continue
        for quota_file, period_file in candidates:
            try:
                with open(quota_file) as fh:
                    fields = fh.read().split()
                if period_file is not None:
                    with open(period_file) as fh:
                        fields = fields[:1] + fh.read().split()[:1]
            except OSError:
                continue
            if len(fields) < 2 or fields[0] in ("max", "-1"):
                return None
            try:
                quota, period = int(fields[0]), int(fields[1])
            except ValueError:
                return None
            if quota > 0 and period > 0:
                return quota / period
            return None
    return None


def available_cores():
    """The CPUs this process may use: its affinity mask, capped by a cgroup
    CPU quota (a container's ``--cpus``), rounded up; at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, max(1, math.ceil(limit)))
    return max(1, n)


def default_threads():
    """The pool's size at import: ``FASTNN_NUM_THREADS`` (checked: a bad
    value is a ValueError naming it), else ``OMP_NUM_THREADS`` (its first
    entry, capped; ignored when not a positive integer, as the OpenMP
    runtime ignores it), else :func:`available_cores`."""
    val = os.environ.get("FASTNN_NUM_THREADS", "").strip()
    if val:
        try:
            n = int(val)
        except ValueError:
            raise ValueError("FASTNN_NUM_THREADS must be a whole number of threads from 1 "
                             "to %d, got %r" % (max_threads(), val)) from None
        return check_thread_count(n, "FASTNN_NUM_THREADS")
    val = os.environ.get("OMP_NUM_THREADS", "").strip()
    if val:
        try:
            n = int(val.split(",")[0])
        except ValueError:
            n = 0
        if n >= 1:
            return min(n, max_threads())
    return available_cores()


def running_command():
    """True when this process is the ``fastnn`` command: its console script, or
    ``python -m fastnn``."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if name in ("fastnn", "fastnn.exe", "fastnn-script.py"):
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    return "-mfastnn" in argv or any(a == "-m" and b == "fastnn" for a, b in zip(argv, argv[1:]))


def exit_if_command(exc):
    """For a bad setting met at import (a FASTNN_* variable): when this process is
    the ``fastnn`` command, say so in one line and exit with status 2, as for a bad
    option; otherwise return, and the import raises ``exc``."""
    if running_command():
        print("fastnn: error: %s" % exc, file=sys.stderr)
        raise SystemExit(2)


def get_num_threads():
    """The threads fastnn's parallel work uses: its kernels and its GEMMs,
    one pool.  1 in a process made by ``os.fork()`` (the pool's threads are
    the parent's)."""
    from ._kernels import parallel
    return parallel.get_threads()


def set_num_threads(n):
    """Use ``n`` threads for fastnn's kernels and GEMMs, from now on, in
    every thread of this process (``threadpoolctl.threadpool_limits`` does
    the same for a block).  ``n`` from 1 to :func:`max_threads`; a process
    made by ``os.fork()`` stays on one thread."""
    from ._kernels import parallel
    parallel.set_threads(check_thread_count(n, "n"))


#: The old name of get_num_threads.
num_threads = get_num_threads


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


def _thread_source():
    if os.environ.get("FASTNN_NUM_THREADS", "").strip():
        return "FASTNN_NUM_THREADS at import"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return "OMP_NUM_THREADS at import"
    return "default: the CPUs this process may use"


def _pool_lines():
    """The pool, its thread count and where it came from, and fastnn's BLAS."""
    from ._kernels import parallel
    lines = ["pool: fastnn's own (POSIX threads; kernels and GEMMs), %d threads now "
             "(%s: %d; cap %d; a forked child: 1)%s"
             % (get_num_threads(), _thread_source(), available_cores(), max_threads(),
                ", this process is a forked child" if parallel.in_forked_child() else "")]
    info = parallel.blas_info()
    lines.append("fastnn's BLAS: %s, kernels for %s, one thread inside each piece of the "
                 "pool: %s" % (info.get("config", "OpenBLAS"), info.get("core", "?"),
                               info.get("library")))
    return lines


def _blas_info():
    """Every thread pool of this process that threadpoolctl sees."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency
        return ["(install threadpoolctl to list the other thread pools)"]
    lines = []
    for pool in threadpool_info():
        lines.append("%s %s %s, %s threads: %s" % (
            pool.get("user_api"), pool.get("internal_api"), pool.get("version"),
            pool.get("num_threads"), pool.get("filepath")))
    return lines


def show_config(file=None):
    """Print the version, compiled kernels, dtypes, the thread pool, its BLAS
    and every thread pool of the process."""
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
    for line in _pool_lines():
        print(line, file=out)
    print("thread pools of this process (threadpoolctl):", file=out)
    for line in _blas_info():
        print("  " + line, file=out)
