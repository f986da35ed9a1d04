"""Starting fastnn's thread pool, and its face for threadpoolctl.

The pool is the OpenMP runtime the kernels are linked with (GNU libgomp on
Linux).  Its idle threads spin for ``GOMP_SPINCOUNT`` checks before they
sleep; libgomp's own default (300,000, about 10 ms on this project's
machines) keeps a waiting thread on its core long after the work is done,
which costs a program that shares the core.  fastnn sets a short spin
(:data:`SPINCOUNT`) while its kernels load, unless the user set one, and
puts the environment back at once: the runtime reads it only when it loads.
"""
import os

#: Spin checks of an idle OpenMP thread before it sleeps (measured: see
#: bench/README.md, "Threads").
SPINCOUNT = "10000"


def start_pool():
    """Load the pool (with a short spin) and size it by default_threads()."""
    from ._config import default_threads
    n = default_threads()            # a bad FASTNN_NUM_THREADS fails before any load
    set_here = "GOMP_SPINCOUNT" not in os.environ
    if set_here:
        os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
    try:
        from ._kernels import parallel
    finally:
        if set_here:
            os.environ.pop("GOMP_SPINCOUNT", None)
    parallel.set_threads(n)
    _register_threadpoolctl()


def _register_threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - a dependency
        return
    if not hasattr(threadpoolctl, "register"):  # pragma: no cover - threadpoolctl < 3.4
        return
    threadpoolctl.register(_controller_class(threadpoolctl))


_CLASS = None


def _controller_class(threadpoolctl):
    """threadpoolctl's LibController for fastnn's pool (made once)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import ctypes

    class FastnnController(threadpoolctl.LibController):
        """fastnn's one pool (its kernels and GEMMs), as threadpoolctl sees it."""
        user_api = "openmp"
        internal_api = "fastnn"
        filename_prefixes = ("parallel",)
        check_symbols = ("fastnn_get_num_threads", "fastnn_set_num_threads")

        def get_num_threads(self):
            fn = getattr(self.dynlib, "fastnn_get_num_threads", None)
            if fn is None:
                return None
            fn.restype = ctypes.c_int
            return fn()

        def set_num_threads(self, num_threads):
            from ._config import check_thread_count
            n = check_thread_count(num_threads, "threadpool_limits' limits")
            fn = self.dynlib.fastnn_set_num_threads
            fn.argtypes = [ctypes.c_int]
            fn(n)

        def get_version(self):
            from ._version import __version__
            return __version__

    _CLASS = FastnnController
    return _CLASS
