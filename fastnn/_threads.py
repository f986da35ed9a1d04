"""Starting fastnn's thread pool, and its face for threadpoolctl.

The pool (``fastnn/_kernels/parallel.h``) runs every parallel kernel and
GEMM of fastnn; its size is set at import from :func:`fastnn._config.default_threads`
and later by :func:`fastnn.set_num_threads` or ``threadpoolctl``.
"""
import sys


def start_pool():
    """Size the pool by default_threads() and register it with threadpoolctl."""
    from ._config import default_threads
    from ._kernels import parallel
    parallel.set_threads(default_threads())   # a bad FASTNN_NUM_THREADS raises here
    _register_threadpoolctl()


def _register_threadpoolctl():
    """Register the pool with threadpoolctl: at once when threadpoolctl is imported already,
    else the moment something imports it.  (Importing it here would cost every
    ``import fastnn`` about 7 ms, for a library most programs never load.)"""
    module = sys.modules.get("threadpoolctl")
    if module is not None:
        _register(module)
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


def _register(threadpoolctl):
    if not hasattr(threadpoolctl, "register"):  # pragma: no cover - threadpoolctl < 3.4
        return
    threadpoolctl.register(_controller_class(threadpoolctl))


class _RegisterOnImport:
    """A finder at the front of ``sys.meta_path`` that lets the other finders find
    threadpoolctl and wraps its loader, so that fastnn's pool is registered once the module
    has run; the finder leaves ``sys.meta_path`` then.  (Python has no post-import hook.)"""

    def find_spec(self, name, path=None, target=None):
        if name != "threadpoolctl":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


class _RegisteringLoader:
    """Runs threadpoolctl with its own loader, then registers fastnn's pool with it."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register(module)
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterOnImport)]

    def __getattr__(self, name):        # get_source, get_resource_reader, ...
        return getattr(self.loader, name)


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
