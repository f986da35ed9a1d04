# cython: language_level=3
"""Batch normalization kernels (the book's version: per-column statistics,
biased variance, eps inside the square root).

Row-major data, per-column statistics: every loop runs over rows with the
column loop innermost, so it is contiguous and vectorizes; per-column
accumulators live in small scratch arrays that stay in L1/L2.

Training forward, two passes over x:
  1. mean and M2 = Σ(x-mean)² of every column by Welford's update (one
     read of x; stable where Σx² - n·mean² would cancel), in double;
  2. xc = x - mean, xn = xc·(1/std), out = gamma·xn + beta (one more read
     of x, three writes), std = sqrt(M2/n + eps).
Inference forward, one pass: out = (x - running_mean)·s + beta with
s = gamma/sqrt(running_var + eps) per column.
Backward, two passes:
  1. dbeta = Σ dout, dgamma = Σ xn·dout per column (in double);
  2. dx = (gamma/std)·(dout - dbeta/n - xn·dgamma/n).
Step 2 is the book's chain (dxn, dstd, dvar, dmu) simplified with
xn = xc/std; the two agree to rounding.

The kernels are C (``batchnorm_simd.h``: per block of columns, through one
dtype dispatch); this module holds their drivers; ``batchnorm_ops.pyx`` the
``BatchNormOps`` mixin of :class:`fastnn.backends.CompiledOps` and the
checked ``fastnn.ops`` functions, which call the drivers ``_train_into``,
``_infer_into`` and ``_backward_into`` (declared in ``batchnorm.pxd``).

Row blocks: from 2·ROWS rows on (ROWS = 64; the b1000 MLP's 1000 x 100),
a call runs over fixed blocks of ROWS rows, whatever the thread count.  The
first pass computes each block's per-column statistics (Welford's mean and
M2; the backward's two sums), one thread combines them in block order
(Chan, Golub and LeVeque's update of mean and M2; plain sums), and the
second pass normalizes block by block.  The pool's threads take the blocks
in runs (the caller the first half, as the GEMM before split the rows), so
each thread reads and writes the rows already in its own cache; the
passes after (ReLU, Dropout's apply) split the rows the same way.  Fewer
rows: the columns, in blocks one per thread for large inputs.  Either way
the blocks do not depend on the thread count, so neither do the results.
"""

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (NOGIL_MIN, is_f32, release_gil_if, retake_gil,
                                      run_parallel, threads_arg)

cnp.import_array()

cdef enum:
    # Column blocks (fewer than 2·ROWS rows): below this many elements one
    # thread does it; above, blocks of at least MIN_COLS columns (a multiple
    # of 16 keeps every block's rows vector-aligned) go over the pool.
    # Measured in the training step, not alone: split by columns, the
    # b1000 MLP's 1000 x 100 batch norms made the step slower (its input
    # split by rows by the GEMM before, its output read by rows after).
    PAR_MIN = 1 << 18
    MIN_COLS = 16
    # Row blocks go over the pool from this many elements (two pieces of
    # GRAIN_ELEMS): the b1000 MLP's step at 2 threads 10.4-11.8 -> 9.7-10.2
    # ms with Dropout applied by rows too (bench/README.md, "The b1000 MLP
    # by rows").
    ROWS_PAR_MIN = 1 << 15

PARALLEL_MIN_SIZE = PAR_MIN


# -- the kernels (C, in batchnorm_simd.h) ------------------------------------------
# In C because Cython cannot put GCC's target_clones attribute on a cdef
# function: each loop is compiled for baseline x86-64 (SSE2) and for AVX2,
# and the clone is picked at load time (an ifunc; elsewhere, one plain
# build).  "avx2" alone does not enable FMA: every product and sum rounds as
# NumPy's do.  Measured on the AMD EPYC of the benchmarks (1000x1000
# float64): Welford's pass 0.50 -> 0.31 ms, the normalizing pass
# 1.65 -> 1.48 ms (bound by memory).  ``restrict``: the callers guarantee
# that outputs share no memory with inputs (without it GCC gives up on the
# many runtime alias checks of the five-array loops).

cdef extern from "batchnorm_simd.h" nogil:
    # One call's arrays (float32 when f32, else float64) and scalars.
    ctypedef struct fastnn_bn_call:
        int f32
        Py_ssize_t n, d, ld
        const void* x
        const void* gamma
        const void* beta
        void* running_mean
        void* running_var
        double momentum, eps
        void* out
        void* xc
        void* xn
        void* std
        const void* dout
        void* dx
        void* dgamma
        void* dbeta
    enum:
        FASTNN_BN_TRAIN, FASTNN_BN_INFER, FASTNN_BN_BACKWARD
    # The columns [j0, j1) of a call: 0, or -1 when out of memory.
    int fastnn_bn_block(int what, const fastnn_bn_call* c, Py_ssize_t j0, Py_ssize_t j1)
    # A call over blocks of FASTNN_BN_RB rows: phase 0's pass block by block
    # (none for inference), the step between on one thread, phase 1's pass.
    ctypedef struct fastnn_bn_rows_job:
        Py_ssize_t nb
    enum:
        FASTNN_BN_RB
    int fastnn_bn_rows_alloc(fastnn_bn_rows_job* k, int what, const fastnn_bn_call* c)
    void fastnn_bn_rows_free(fastnn_bn_rows_job* k)
    void fastnn_bn_rows_piece(int what, int phase, const fastnn_bn_rows_job* k, Py_ssize_t b)
    void fastnn_bn_rows_between(int what, const fastnn_bn_rows_job* k)

# Rows a block (from 2·ROWS rows on, a call runs over row blocks)
ROWS = FASTNN_BN_RB


# -- column blocks (one per thread) -------------------------------------------------

cdef inline Py_ssize_t _nblocks(Py_ssize_t n, Py_ssize_t d, int nthreads) noexcept nogil:
    cdef Py_ssize_t nb
    if nthreads <= 1 or n * d < PAR_MIN:
        return 1
    nb = d // MIN_COLS
    if nb > 3 * nthreads:      # a few blocks a thread: one busy core holds up one block
        nb = 3 * nthreads
    return nb if nb > 1 else 1


cdef inline Py_ssize_t _edge(Py_ssize_t b, Py_ssize_t nb, Py_ssize_t d) noexcept nogil:
    # Block boundaries on multiples of 16 columns (cache-line aligned rows).
    if b >= nb:
        return d
    return ((d * b // nb) // 16) * 16


cdef extern from *:
    """
    static inline void fastnn_bn_flag(int *p) { __atomic_store_n(p, 1, __ATOMIC_RELAXED); }
    """
    void _flag "fastnn_bn_flag" (int* p) noexcept nogil


cdef struct Blocks:
    int what
    const fastnn_bn_call* c
    Py_ssize_t nb
    int nerr


cdef void _block(void* ctx, Py_ssize_t b, int slot) noexcept nogil:
    cdef Blocks* k = <Blocks*>ctx
    if fastnn_bn_block(k.what, k.c, _edge(b, k.nb, k.c.d), _edge(b + 1, k.nb, k.c.d)) != 0:
        _flag(&k.nerr)


cdef struct RowRun:
    int what, phase
    const fastnn_bn_rows_job* k


cdef void _row_piece(void* ctx, Py_ssize_t b, int slot) noexcept nogil:
    cdef const RowRun* r = <const RowRun*>ctx
    fastnn_bn_rows_piece(r.what, r.phase, r.k, b)


cdef int _by_rows(int what, const fastnn_bn_call* c, int nthreads) noexcept nogil:
    # The same blocks on any thread count, so the same bits.
    cdef fastnn_bn_rows_job k
    cdef RowRun r
    cdef Py_ssize_t b
    if fastnn_bn_rows_alloc(&k, what, c) != 0:
        return -1
    r.what, r.k = what, &k
    for r.phase in range(0 if what != FASTNN_BN_INFER else 1, 2):
        if r.phase == 1:
            fastnn_bn_rows_between(what, &k)
        if nthreads > 1:
            run_parallel(_row_piece, &r, k.nb, nthreads,
                         ((c.n * 1000003 + c.d) * 4 + what) * 2 + r.phase)
        else:
            for b in range(k.nb):
                fastnn_bn_rows_piece(what, r.phase, &k, b)
    fastnn_bn_rows_free(&k)
    return 0


cdef inline bint _rows_path(Py_ssize_t n) noexcept nogil:
    return n >= 2 * FASTNN_BN_RB


cdef int _blocks(int what, const fastnn_bn_call* c, int nthreads) noexcept nogil:
    cdef Blocks k
    if _rows_path(c.n):
        return _by_rows(what, c, nthreads if c.n * c.d >= ROWS_PAR_MIN else 1)
    k.nb = _nblocks(c.n, c.d, nthreads)
    if k.nb == 1:
        return fastnn_bn_block(what, c, 0, c.d)
    k.what, k.c, k.nerr = what, c, 0
    run_parallel(_block, &k, k.nb, nthreads, (c.n * 1000003 + c.d) * 4 + what)
    return -1 if k.nerr else 0


# -- unchecked entry points (the layer class has checked everything) -----------

cdef inline void* _ptr(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


cdef object _rows(cnp.ndarray x, Py_ssize_t* ld):
    """``x`` (n, d) with unit column stride and row stride >= d, or a C copy."""
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(x)
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef Py_ssize_t s0 = x.strides[0], s1 = x.strides[1]
    if (cnp.PyArray_ISALIGNED(x) and (d <= 1 or s1 == item) and s0 % item == 0
            and (n <= 1 or s0 // item >= d)):
        ld[0] = s0 // item if n > 1 else d
        return x
    ld[0] = d
    return np.ascontiguousarray(x)


cdef int _threads(object num_threads, Py_ssize_t n, Py_ssize_t d) except -1:
    if num_threads is None and n * d < (ROWS_PAR_MIN if _rows_path(n) else PAR_MIN):
        return 1
    return threads_arg(num_threads)


cdef _run(int what, fastnn_bn_call* c, num_threads):
    """Run call ``c`` over its column blocks, the GIL released when large."""
    cdef int nt = _threads(num_threads, c.n, c.d)
    ts = release_gil_if(c.n * c.d >= NOGIL_MIN)
    cdef int err = _blocks(what, c, nt)
    retake_gil(ts)
    if err:
        raise MemoryError()


cdef inline void _start(fastnn_bn_call* c, cnp.ndarray like, cnp.ndarray gamma) noexcept:
    """The fields every call sets: dtype and sizes of (n, d) ``like``, gamma."""
    c.f32 = is_f32(like)
    c.n = like.shape[0]
    c.d = like.shape[1]
    c.ld = c.d
    c.gamma = cnp.PyArray_DATA(gamma)


cdef object _forward(fastnn_bn_call* c, cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta,
                     running_mean, running_var, double eps, cnp.ndarray out):
    """The fields of a forward call; returns the x the kernels read (``x``, or
    its C copy, which the caller keeps alive until the call has run)."""
    _start(c, x, gamma)
    x = _rows(x, &c.ld)
    c.x = cnp.PyArray_DATA(x)
    c.beta = cnp.PyArray_DATA(beta)
    c.running_mean = _ptr(running_mean)
    c.running_var = _ptr(running_var)
    c.eps = eps
    c.out = cnp.PyArray_DATA(out)
    return x


cpdef _train_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta, running_mean,
                running_var, double momentum, double eps, cnp.ndarray out,
                cnp.ndarray xc, cnp.ndarray xn, cnp.ndarray std, num_threads=None):
    """Trusted: x (n, d) float, everything else C-contiguous of x's dtype,
    per-column arrays (d,), outputs (n, d) and not overlapping the inputs;
    running statistics both None or both arrays."""
    cdef fastnn_bn_call c
    xr = _forward(&c, x, gamma, beta, running_mean, running_var, eps, out)
    c.momentum = momentum
    c.xc = cnp.PyArray_DATA(xc)
    c.xn = cnp.PyArray_DATA(xn)
    c.std = cnp.PyArray_DATA(std)
    _run(FASTNN_BN_TRAIN, &c, num_threads)
    return out


cpdef _infer_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta,
                cnp.ndarray running_mean, cnp.ndarray running_var, double eps,
                cnp.ndarray out, num_threads=None):
    """Trusted, as ``_train_into``."""
    cdef fastnn_bn_call c
    xr = _forward(&c, x, gamma, beta, running_mean, running_var, eps, out)
    _run(FASTNN_BN_INFER, &c, num_threads)
    return out


cpdef _backward_into(cnp.ndarray dout, cnp.ndarray xn, cnp.ndarray std, cnp.ndarray gamma,
                   cnp.ndarray dx, cnp.ndarray dgamma, cnp.ndarray dbeta, num_threads=None):
    """Trusted: dout and xn C-contiguous (n, d) of one float dtype, the rest
    C-contiguous of that dtype, outputs not overlapping the inputs."""
    cdef fastnn_bn_call c
    _start(&c, dout, gamma)
    c.dout = cnp.PyArray_DATA(dout)
    c.xn = cnp.PyArray_DATA(xn)
    c.std = cnp.PyArray_DATA(std)
    c.dx = cnp.PyArray_DATA(dx)
    c.dgamma = cnp.PyArray_DATA(dgamma)
    c.dbeta = cnp.PyArray_DATA(dbeta)
    _run(FASTNN_BN_BACKWARD, &c, num_threads)
    return dx, dgamma, dbeta
