# cython: language_level=3
"""fastnn's one thread pool, and the BLAS it owns.

All of fastnn's parallel work runs on one pool of threads (``parallel.h``:
why it is not OpenMP is written there).  Its size is one integer, set by
:func:`fastnn.set_num_threads`, ``FASTNN_NUM_THREADS`` or threadpoolctl; every
kernel asks :c:func:`pool_threads` for it and hands its pieces to
:c:func:`run_parallel`.

GEMMs go to fastnn's own copy of OpenBLAS (the ``scipy-openblas32``
package: the build NumPy and SciPy ship, loaded privately), kept at one
thread: ``blas_gemm`` splits a large product by rows or columns of C into
pieces that the pool's threads take in turn (dynamic schedule, so a thread
whose core is busy with another program holds up one piece, not half the
work).  OpenBLAS's own thread pool, which spins while it waits and knows
nothing of the other pools of the process, is never started.

Work too small to split runs on the calling thread (``GEMM_PAR_FLOPS``,
measured; each kernel family has its own grain, ``PAR_MIN``).
"""
import os
import ctypes


cdef extern from "parallel.h" nogil:
    ctypedef void (*fastnn_task_fn)(void* ctx, Py_ssize_t piece, int slot) noexcept nogil
    int fastnn_threads()
    void fastnn_set_num_threads(int n)
    int fastnn_pool_init()
    int fastnn_forked()
    int fastnn_in_pool()
    int fastnn_pool_workers()
    void fastnn_run(fastnn_task_fn fn, void* ctx, Py_ssize_t pieces, int nthreads)
    void fastnn_run_keyed(fastnn_task_fn fn, void* ctx, Py_ssize_t pieces, int nthreads,
                          long long key)
    void* fastnn_scratch(size_t nbytes)
    void fastnn_pool_stats(long* out)


ctypedef void (*gemm_fn)(const char* ta, const char* tb, const int* m, const int* n,
                         const int* k, const void* alpha, const void* a, const int* lda,
                         const void* b, const int* ldb, const void* beta, void* c,
                         const int* ldc) noexcept nogil
ctypedef void (*set_threads_fn)(int n) noexcept nogil
ctypedef int (*get_threads_fn)() noexcept nogil

cdef gemm_fn _dgemm = NULL
cdef gemm_fn _sgemm = NULL
cdef set_threads_fn _blas_set_threads = NULL
cdef get_threads_fn _blas_get_threads = NULL

# Below this many flops a GEMM runs on the calling thread (measured on 2
# cores: see bench/README.md, "Threads"; _set_gemm_grain changes it for that
# measurement).
cdef double GEMM_PAR_FLOPS = 1 << 22

cdef enum:
    # Each piece at least this many flops; a range (parallel_range) at most
    # PIECES pieces a thread (more pieces: better balance when a core is
    # busy).
    PIECE_FLOPS = 1 << 20
    PIECES = 3
    # Piece edges on multiples of this many rows/columns (the micro-kernels'
    # register blocks divide it).
    ALIGN = 16


cdef int pool_threads() noexcept nogil:
    return fastnn_threads()


cdef void run_parallel(task_fn fn, void* ctx, Py_ssize_t pieces, int nthreads,
                       long long key) noexcept nogil:
    fastnn_run_keyed(<fastnn_task_fn>fn, ctx, pieces, nthreads, key)


cdef int threads_arg(object num_threads) except -1:
    if num_threads is None:
        return fastnn_threads()
    from fastnn._config import check_thread_count
    cdef int n = check_thread_count(num_threads, "num_threads")
    return 1 if fastnn_forked() else n


cdef struct Range:
    range_fn fn
    void* ctx
    Py_ssize_t n, pieces, align


cdef void _range_piece(void* ctx, Py_ssize_t i, int slot) noexcept nogil:
    cdef const Range* r = <const Range*>ctx
    cdef Py_ssize_t lo = (r.n * i // r.pieces) // r.align * r.align
    cdef Py_ssize_t hi = r.n if i == r.pieces - 1 else (r.n * (i + 1) // r.pieces) // r.align * r.align
    if hi > lo:
        r.fn(r.ctx, lo, hi)


cdef void parallel_range(range_fn fn, void* ctx, Py_ssize_t n, Py_ssize_t grain,
                         Py_ssize_t align) noexcept nogil:
    cdef int nt = fastnn_threads()
    cdef Range r
    if align < 1:
        align = 1
    if grain < align:
        grain = align
    r.pieces = 0
    if nt > 1 and not fastnn_in_pool():
        r.pieces = min(<Py_ssize_t>nt * PIECES, n // grain)
    if r.pieces < 2:
        if n > 0:
            fn(ctx, 0, n)
        return
    r.fn, r.ctx, r.n, r.align = fn, ctx, n, align
    # keyed by the caller's function and the length: _range_piece serves them all
    fastnn_run_keyed(_range_piece, &r, r.pieces, nt,
                     <long long>(<size_t>fn) ^ (<long long>n * 1000003))


cdef struct BiasGrad:
    bint f32
    const void* dout
    Py_ssize_t N, FN, P
    void* db


cdef void _bias_grad_range(void* ctx, Py_ssize_t f0, Py_ssize_t f1) noexcept nogil:
    cdef const BiasGrad* b = <const BiasGrad*>ctx
    fastnn_bias_grad(b.f32, b.dout, b.N, b.FN, b.P, f0, f1, b.db)


cdef void bias_grad(bint f32, const void* dout, Py_ssize_t N, Py_ssize_t FN, Py_ssize_t P,
                    void* db) noexcept nogil:
    cdef BiasGrad b
    cdef Py_ssize_t per = N * P
    b.f32, b.dout, b.N, b.FN, b.P, b.db = f32, dout, N, FN, P, db
    parallel_range(_bias_grad_range, &b, FN, (GRAIN_ELEMS + per - 1) // per if per else FN, 1)


# -- BLAS --------------------------------------------------------------------

cdef inline void _gemm1(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                        const void* a, int lda, const void* b, int ldb, double beta,
                        void* c, int ldc) noexcept nogil:
    # Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the
    # operands and the sizes m, n; the flags carry over unchanged because a
    # row-major operand read column-major is already its transpose.
    cdef float alpha_f = <float>alpha, beta_f = <float>beta
    if f32:
        _sgemm(&tb, &ta, &n, &m, &k, &alpha_f, b, &ldb, a, &lda, &beta_f, c, &ldc)
    else:
        _dgemm(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc)


cdef void blas_gemm1(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                     const void* a, int lda, const void* b, int ldb, double beta,
                     void* c, int ldc) noexcept nogil:
    if m > 0 and n > 0:
        _gemm1(f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef void blas_serial() noexcept nogil:
    if _blas_get_threads() != 1:
        _blas_set_threads(1)


cdef inline Py_ssize_t _edge(Py_ssize_t dim, Py_ssize_t i, Py_ssize_t p) noexcept nogil:
    if i >= p:
        return dim
    return (dim * i // p) // ALIGN * ALIGN


cdef extern from "sum_simd.h" nogil:
    void fastnn_bias_grad(bint f32, const void* dout, Py_ssize_t N, Py_ssize_t FN,
                          Py_ssize_t P, Py_ssize_t f0, Py_ssize_t f1, void* db)
    void fastnn_add_parts(bint f32, void* dst, Py_ssize_t ldd, const void* parts, Py_ssize_t G,
                          Py_ssize_t rows, Py_ssize_t cols)


cdef enum:
    SPLIT_ROWS, SPLIT_COLS, SPLIT_INNER


cdef struct Gemm:
    bint f32
    int split
    char ta, tb
    int m, n, k, lda, ldb, ldc
    double alpha, beta
    const char* a
    const char* b
    char* c
    char* parts          # SPLIT_INNER: pieces - 1 partial products, m x n each
    Py_ssize_t pieces


cdef void _piece(void* ctx, Py_ssize_t i, int slot) noexcept nogil:
    # piece i: rows [lo, hi) of C (and of op(A)); or its columns (and
    # op(B)'s); or the inner index range [lo, hi), into C (i = 0, with
    # beta) or a partial product
    cdef const Gemm* g = <const Gemm*>ctx
    cdef Py_ssize_t es = 4 if g.f32 else 8
    cdef Py_ssize_t dim = g.m if g.split == SPLIT_ROWS else (
        g.n if g.split == SPLIT_COLS else g.k)
    cdef Py_ssize_t lo = _edge(dim, i, g.pieces), hi = _edge(dim, i + 1, g.pieces)
    if g.split == SPLIT_ROWS:
        _gemm1(g.f32, g.ta, g.tb, <int>(hi - lo), g.n, g.k, g.alpha,
               g.a + lo * (g.lda if g.ta == b'N' else 1) * es, g.lda, g.b, g.ldb, g.beta,
               g.c + lo * g.ldc * es, g.ldc)
    elif g.split == SPLIT_COLS:
        _gemm1(g.f32, g.ta, g.tb, g.m, <int>(hi - lo), g.k, g.alpha, g.a, g.lda,
               g.b + lo * (1 if g.tb == b'N' else g.ldb) * es, g.ldb, g.beta, g.c + lo * es,
               g.ldc)
    elif i == 0:
        _gemm1(g.f32, g.ta, g.tb, g.m, g.n, <int>(hi - lo), g.alpha, g.a, g.lda, g.b, g.ldb,
               g.beta, g.c, g.ldc)
    else:
        _gemm1(g.f32, g.ta, g.tb, g.m, g.n, <int>(hi - lo), g.alpha,
               g.a + lo * (1 if g.ta == b'N' else g.lda) * es, g.lda,
               g.b + lo * (g.ldb if g.tb == b'N' else 1) * es, g.ldb, 0.0,
               g.parts + (i - 1) * g.m * g.n * es, g.n)


cdef void blas_gemm(bint f32, char ta, char tb, int m, int n, int k, double alpha,
                    const void* a, int lda, const void* b, int ldb, double beta,
                    void* c, int ldc) noexcept nogil:
    # Split where the fewest bytes are handled twice: by rows, each piece
    # packs all of op(B) (k·n); by columns, all of op(A) (m·k); over the inner
    # dimension, each piece but the first writes an m x n partial product
    # that is added into C afterwards, in piece order.
    cdef int nt = fastnn_threads()
    cdef double work, rows_cost, cols_cost, inner_cost
    cdef Py_ssize_t dim
    cdef Gemm g
    g.pieces = 0
    if nt > 1 and m > 0 and n > 0 and k > 0 and not fastnn_in_pool():
        work = 2.0 * m * n * k
        if work >= GEMM_PAR_FLOPS:
            rows_cost, cols_cost, inner_cost = <double>k * n, <double>m * k, 2.0 * m * n
            if inner_cost < rows_cost and inner_cost < cols_cost:
                g.split, dim = SPLIT_INNER, k
            elif rows_cost <= cols_cost:
                g.split, dim = SPLIT_ROWS, m
            else:
                g.split, dim = SPLIT_COLS, n
            # a piece a thread: each more piece packs the shared operand once
            # more (or writes one more partial product), and a run the pool
            # decides to keep on the caller still runs the same pieces (the
            # same bits on one thread count, whatever the decision)
            g.pieces = min(<Py_ssize_t>nt, dim // ALIGN, <Py_ssize_t>(work / PIECE_FLOPS))
    if not fastnn_in_pool():
        # fastnn's OpenBLAS on one thread, split or not, when threadpoolctl
        # raised it (else it starts its own threads, and rounds as their split)
        blas_serial()
    if g.pieces < 2:
        _gemm1(f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    g.parts = NULL
    if g.split == SPLIT_INNER:
        g.parts = <char*>fastnn_scratch((g.pieces - 1) * <size_t>m * n * (4 if f32 else 8))
        if g.parts == NULL:
            _gemm1(f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
    g.f32, g.ta, g.tb, g.m, g.n, g.k = f32, ta, tb, m, n, k
    g.alpha, g.beta, g.lda, g.ldb, g.ldc = alpha, beta, lda, ldb, ldc
    g.a, g.b, g.c = <const char*>a, <const char*>b, <char*>c
    fastnn_run_keyed(_piece, &g, g.pieces, nt,
                     ((<long long>m * 1000003 + n) * 1000003 + k) * 16 + g.split * 4
                     + (ta == b'T') * 2 + (tb == b'T'))
    if g.parts != NULL:
        fastnn_add_parts(f32, c, ldc, <const void*>g.parts, g.pieces - 1, m, n)


def _set_gemm_grain(double flops):
    """Set the GEMM size below which nothing is split; returns the old one
    (for the grain measurement of bench/README.md, not an API)."""
    global GEMM_PAR_FLOPS
    old = GEMM_PAR_FLOPS
    GEMM_PAR_FLOPS = flops
    return old


def gemm(a, b, c, double alpha=1.0, double beta=0.0):
    """c = alpha·a·b + beta·c through blas_gemm, for the tests: a, b, c
    C-contiguous 2-D arrays of one float dtype, shapes already agreeing."""
    import numpy as np
    cdef Py_ssize_t pa, pb, pc
    if not (a.dtype == b.dtype == c.dtype and a.dtype in (np.float32, np.float64)
            and a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous
            and c.flags.writeable and a.ndim == b.ndim == c.ndim == 2
            and a.shape[1] == b.shape[0] and c.shape == (a.shape[0], b.shape[1])):
        raise ValueError("gemm needs C-contiguous 2-D float arrays of one dtype with "
                         "a (m, k), b (k, n), c (m, n)")
    cdef bint f32 = a.dtype == np.float32
    cdef int m = a.shape[0], k = a.shape[1], n = b.shape[1]
    pa, pb, pc = a.ctypes.data, b.ctypes.data, c.ctypes.data
    with nogil:
        blas_gemm(f32, b'N', b'N', m, n, k, alpha, <const void*>pa, k, <const void*>pb, n,
                  beta, <void*>pc, n)
    return c


# -- loading fastnn's OpenBLAS ------------------------------------------------------

_blas_lib = None
_blas_path = None


def _find_openblas():
    """The path of scipy-openblas32's library, found without importing the
    package: its __init__ loads the library at once (RTLD_GLOBAL), before
    _load_blas can set OPENBLAS_NUM_THREADS=1, so OpenBLAS would start a
    thread per core of its own (and ~20 ms of importlib.metadata)."""
    import importlib.util
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("fastnn's GEMMs need the scipy-openblas32 package "
                          "(`pip install scipy-openblas32`)")
    libdir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    names = sorted(f for f in os.listdir(libdir) if f.startswith("libscipy_openblas")
                   and f.endswith((".so", ".dylib", ".dll"))) if os.path.isdir(libdir) else []
    if not names:  # pragma: no cover - a broken install
        raise ImportError("no libscipy_openblas library in %s" % libdir)
    return os.path.join(libdir, names[0])


def _symbol(lib, *names):
    for name in names:
        try:
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except AttributeError:
            continue
    raise ImportError("%s has none of the symbols %s" % (_blas_path, ", ".join(names)))


def _load_blas():
    """Open fastnn's OpenBLAS at one thread: OPENBLAS_NUM_THREADS=1 while it
    loads, so it starts no thread of its own (the variable is put back at
    once: NumPy's and SciPy's copies read it only when they load)."""
    global _blas_lib, _blas_path
    global _dgemm, _sgemm, _blas_set_threads, _blas_get_threads
    cdef size_t addr
    _blas_path = _find_openblas()
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        lib = ctypes.CDLL(_blas_path)
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    addr = _symbol(lib, "scipy_dgemm_", "dgemm_")
    _dgemm = <gemm_fn>addr
    addr = _symbol(lib, "scipy_sgemm_", "sgemm_")
    _sgemm = <gemm_fn>addr
    addr = _symbol(lib, "scipy_openblas_set_num_threads", "openblas_set_num_threads")
    _blas_set_threads = <set_threads_fn>addr
    addr = _symbol(lib, "scipy_openblas_get_num_threads", "openblas_get_num_threads")
    _blas_get_threads = <get_threads_fn>addr
    _blas_lib = lib
    blas_serial()


def blas_info():
    """{'library': path, 'config': OpenBLAS's build string, 'core': the kernel
    set it chose, 'threads': its own thread count (1)}."""
    info = {"library": _blas_path, "threads": _blas_get_threads()}
    for key, names in (("config", ("scipy_openblas_get_config", "openblas_get_config")),
                       ("core", ("scipy_openblas_get_corename", "openblas_get_corename"))):
        for name in names:
            fn = getattr(_blas_lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                info[key] = fn().decode("ascii", "replace").strip()
                break
    return info


# -- the pool's size ------------------------------------------------------------------

def get_threads():
    """The pool's size (1 in a process made by fork())."""
    return fastnn_threads()


def set_threads(int n):
    """Set the pool's size; the caller has checked 1 <= n <= the cap."""
    if n < 1:
        raise ValueError("the thread count must be >= 1, got %d" % n)
    fastnn_set_num_threads(n)


def in_forked_child():
    """True in a process made by fork() after this module loaded."""
    return bool(fastnn_forked())


def pool_stats():
    """(runs, runs the back-off made serial, runs slower than the caller
    alone), since the pool was loaded."""
    cdef long out[3]
    fastnn_pool_stats(out)
    return out[0], out[1], out[2]


def pool_workers():
    """Worker threads the pool has started (they are started when a run
    first needs them, and then kept, asleep when idle)."""
    return fastnn_pool_workers()


if fastnn_pool_init() != 0:  # pragma: no cover - out of memory at import
    raise ImportError("fastnn could not register its fork handler")
_load_blas()
