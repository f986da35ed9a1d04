"""Starting fastnn's thread pool, and its face for threadpoolctl.

The pool (``fastnn/_kernels/parallel.h``) runs every parallel kernel and
GEMM of fastnn; its size is set at import from :func:`fastnn._config.default_threads`
and later by :func:`fastnn.set_num_threads` or ``threadpoolctl``.
"""


def start_pool():
    """Size the pool by default_threads() and register it with threadpoolctl."""
    from ._config import default_threads
    from ._kernels import parallel
    parallel.set_threads(default_threads())   # a bad FASTNN_NUM_THREADS raises here
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
        """fastnn's one pool (its kernels and GEMMs), as threadpoolctl sees
        it: user_api "openmp", the threads a library runs its own loops on
        (a limit for "blas" leaves it alone; fastnn's own OpenBLAS stays at
        one thread inside the pool whatever that limit says)."""
        user_api = "openmp"
        internal_api = "fastnn"
        filename_prefixes = ("parallel",)
        check_symbols = ("fastnn_get_num_threads", "fastnn_set_num_threads")

        def get_num_threads(self):
            fn = self.dynlib.fastnn_get_num_threads
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
