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

This module holds the kernels and their drivers; ``batchnorm_ops.pyx`` the
``BatchNormOps`` mixin of :class:`fastnn.backends.CompiledOps` and the
checked ``fastnn.ops`` functions, which call the drivers ``_train_into``,
``_infer_into`` and ``_backward_into`` (declared in ``batchnorm.pxd``).

Threads: the columns are split into blocks, one per thread (OpenMP), only
for large inputs; every column is computed by the same loop in the same
order whatever the thread count, so results do not depend on it.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport malloc, free

import numpy as np
cimport numpy as cnp
from fastnn._kernels._args cimport NOGIL_MIN, release_gil_if, retake_gil
from fastnn._config import num_threads as _default_threads, usable_threads

cnp.import_array()

cdef enum:
    # Below this many elements one thread does it (thread start-up costs
    # more than it saves); above, each thread gets at least MIN_COLS columns
    # (a multiple of 16 keeps every block's rows vector-aligned).
    PAR_MIN = 1 << 17
    MIN_COLS = 64

PARALLEL_MIN_SIZE = PAR_MIN


# -- element loops (C, cloned for AVX2) ----------------------------------------
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
    void fastnn_bn_stats_d(const double* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                           double* mean, double* m2)
    void fastnn_bn_stats_f(const float* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                           double* mean, double* m2)
    void fastnn_bn_normalize_d(const double* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                               Py_ssize_t ldo, const double* mu, const double* inv,
                               const double* g, const double* b, double* xc, double* xn,
                               double* out)
    void fastnn_bn_normalize_f(const float* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                               Py_ssize_t ldo, const float* mu, const float* inv,
                               const float* g, const float* b, float* xc, float* xn,
                               float* out)
    void fastnn_bn_infer_d(const double* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                           Py_ssize_t ldo, const double* rm, const double* scale,
                           const double* b, double* out)
    void fastnn_bn_infer_f(const float* x, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t w,
                           Py_ssize_t ldo, const float* rm, const float* scale,
                           const float* b, float* out)
    void fastnn_bn_grad_sums_d(const double* dout, const double* xn, Py_ssize_t n,
                               Py_ssize_t ld, Py_ssize_t w, double* sd, double* sdx)
    void fastnn_bn_grad_sums_f(const float* dout, const float* xn, Py_ssize_t n,
                               Py_ssize_t ld, Py_ssize_t w, double* sd, double* sdx)
    void fastnn_bn_dx_d(const double* dout, const double* xn, Py_ssize_t n, Py_ssize_t ld,
                        Py_ssize_t w, const double* a, const double* cb, const double* cg,
                        double* dx)
    void fastnn_bn_dx_f(const float* dout, const float* xn, Py_ssize_t n, Py_ssize_t ld,
                        Py_ssize_t w, const float* a, const float* cb, const float* cg,
                        float* dx)


# -- kernels on raw pointers --------------------------------------------------

cdef int bn_forward_train(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                          const floating* gamma, const floating* beta,
                          floating* running_mean, floating* running_var,
                          double momentum, double eps,
                          floating* out, floating* xc, floating* xn, floating* std,
                          Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    cdef Py_ssize_t w = j1 - j0, j, i
    cdef double* mean
    cdef double* m2
    cdef floating* mu
    cdef floating* inv
    cdef double var, s
    if w <= 0:
        return 0
    mean = <double*>malloc(2 * w * sizeof(double) + 2 * w * sizeof(floating))
    if mean == NULL:
        return -1
    m2 = mean + w
    mu = <floating*>(m2 + w)
    inv = mu + w
    if floating is float:
        fastnn_bn_stats_f(x + j0, n, ld, w, mean, m2)
    else:
        fastnn_bn_stats_d(x + j0, n, ld, w, mean, m2)
    for j in range(w):
        if mean[j] != mean[j]:
            # Welford's update turns a column holding ±inf into NaN (inf - inf);
            # the plain sum gives NumPy's mean: ±inf, or NaN for a real NaN or
            # for +inf and -inf together.
            s = 0.0
            for i in range(n):
                s = s + <double>x[i * ld + j0 + j]
            mean[j] = s / <double>n
        var = m2[j] / <double>n
        s = sqrt(var + eps)
        std[j0 + j] = <floating>s
        mu[j] = <floating>mean[j]
        inv[j] = <floating>(1.0 / s)
        if running_mean != NULL:
            running_mean[j0 + j] = <floating>(momentum * running_mean[j0 + j]
                                              + (1.0 - momentum) * mean[j])
            running_var[j0 + j] = <floating>(momentum * running_var[j0 + j]
                                             + (1.0 - momentum) * var)
    if floating is float:
        fastnn_bn_normalize_f(x + j0, n, ld, w, d, mu, inv, gamma + j0, beta + j0,
                              xc + j0, xn + j0, out + j0)
    else:
        fastnn_bn_normalize_d(x + j0, n, ld, w, d, mu, inv, gamma + j0, beta + j0,
                              xc + j0, xn + j0, out + j0)
    free(mean)
    return 0


cdef int bn_forward_infer(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                          const floating* gamma, const floating* beta,
                          const floating* running_mean, const floating* running_var,
                          double eps, floating* out,
                          Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    cdef Py_ssize_t w = j1 - j0, j
    cdef floating* scale
    if w <= 0:
        return 0
    scale = <floating*>malloc(w * sizeof(floating))
    if scale == NULL:
        return -1
    for j in range(w):
        scale[j] = <floating>(<double>gamma[j0 + j] / sqrt(<double>running_var[j0 + j] + eps))
    if floating is float:
        fastnn_bn_infer_f(x + j0, n, ld, w, d, running_mean + j0, scale, beta + j0,
                          out + j0)
    else:
        fastnn_bn_infer_d(x + j0, n, ld, w, d, running_mean + j0, scale, beta + j0,
                          out + j0)
    free(scale)
    return 0


cdef int bn_backward(const floating* dout, const floating* xn, const floating* std,
                     const floating* gamma, Py_ssize_t n, Py_ssize_t d,
                     floating* dx, floating* dgamma, floating* dbeta,
                     Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    cdef Py_ssize_t w = j1 - j0, j
    cdef double* sd
    cdef double* sdx
    cdef floating* a
    cdef floating* cb
    cdef floating* cg
    if w <= 0:
        return 0
    sd = <double*>malloc(2 * w * sizeof(double) + 3 * w * sizeof(floating))
    if sd == NULL:
        return -1
    sdx = sd + w
    a = <floating*>(sdx + w)
    cb = a + w
    cg = cb + w
    if floating is float:
        fastnn_bn_grad_sums_f(dout + j0, xn + j0, n, d, w, sd, sdx)
    else:
        fastnn_bn_grad_sums_d(dout + j0, xn + j0, n, d, w, sd, sdx)
    for j in range(w):
        dbeta[j0 + j] = <floating>sd[j]
        dgamma[j0 + j] = <floating>sdx[j]
        a[j] = <floating>(<double>gamma[j0 + j] / <double>std[j0 + j])
        cb[j] = <floating>(sd[j] / <double>n)
        cg[j] = <floating>(sdx[j] / <double>n)
    if floating is float:
        fastnn_bn_dx_f(dout + j0, xn + j0, n, d, w, a, cb, cg, dx + j0)
    else:
        fastnn_bn_dx_d(dout + j0, xn + j0, n, d, w, a, cb, cg, dx + j0)
    free(sd)
    return 0


# -- column-block drivers (one block per thread) -------------------------------

cdef inline Py_ssize_t _nblocks(Py_ssize_t n, Py_ssize_t d, int nthreads) noexcept nogil:
    cdef Py_ssize_t nb
    if nthreads <= 1 or n * d < PAR_MIN:
        return 1
    nb = d // MIN_COLS
    if nb > nthreads:
        nb = nthreads
    return nb if nb > 1 else 1


cdef inline Py_ssize_t _edge(Py_ssize_t b, Py_ssize_t nb, Py_ssize_t d) noexcept nogil:
    # Block boundaries on multiples of 16 columns (cache-line aligned rows).
    if b >= nb:
        return d
    return ((d * b // nb) // 16) * 16


cdef int _train_blocks(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       const floating* gamma, const floating* beta,
                       floating* rm, floating* rv, double momentum, double eps,
                       floating* out, floating* xc, floating* xn, floating* std,
                       int nthreads) noexcept nogil:
    cdef Py_ssize_t nb = _nblocks(n, d, nthreads), b
    cdef int nerr = 0
    if nb == 1:
        return bn_forward_train(x, n, d, ld, gamma, beta, rm, rv, momentum, eps,
                                out, xc, xn, std, 0, d)
    for b in prange(nb, num_threads=nthreads, schedule='static'):
        if bn_forward_train(x, n, d, ld, gamma, beta, rm, rv, momentum, eps, out, xc,
                            xn, std, _edge(b, nb, d), _edge(b + 1, nb, d)) != 0:
            nerr += 1
    return -1 if nerr else 0


cdef int _infer_blocks(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       const floating* gamma, const floating* beta,
                       const floating* rm, const floating* rv, double eps,
                       floating* out, int nthreads) noexcept nogil:
    cdef Py_ssize_t nb = _nblocks(n, d, nthreads), b
    cdef int nerr = 0
    if nb == 1:
        return bn_forward_infer(x, n, d, ld, gamma, beta, rm, rv, eps, out, 0, d)
    for b in prange(nb, num_threads=nthreads, schedule='static'):
        if bn_forward_infer(x, n, d, ld, gamma, beta, rm, rv, eps, out,
                            _edge(b, nb, d), _edge(b + 1, nb, d)) != 0:
            nerr += 1
    return -1 if nerr else 0


cdef int _backward_blocks(const floating* dout, const floating* xn, const floating* std,
                          const floating* gamma, Py_ssize_t n, Py_ssize_t d,
                          floating* dx, floating* dgamma, floating* dbeta,
                          int nthreads) noexcept nogil:
    cdef Py_ssize_t nb = _nblocks(n, d, nthreads), b
    cdef int nerr = 0
    if nb == 1:
        return bn_backward(dout, xn, std, gamma, n, d, dx, dgamma, dbeta, 0, d)
    for b in prange(nb, num_threads=nthreads, schedule='static'):
        if bn_backward(dout, xn, std, gamma, n, d, dx, dgamma, dbeta,
                       _edge(b, nb, d), _edge(b + 1, nb, d)) != 0:
            nerr += 1
    return -1 if nerr else 0


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


cdef int _threads(object num_threads, Py_ssize_t size) except -1:
    # Reading the environment costs microseconds: only for inputs big enough
    # to be split.
    if num_threads is None:
        return _default_threads() if size >= PAR_MIN else 1
    if num_threads < 1:
        raise ValueError("num_threads must be >= 1, got %r" % (num_threads,))
    return usable_threads(num_threads)


cpdef _train_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta, running_mean,
                running_var, double momentum, double eps, cnp.ndarray out,
                cnp.ndarray xc, cnp.ndarray xn, cnp.ndarray std, num_threads=None):
    """Trusted: x (n, d) float, everything else C-contiguous of x's dtype,
    per-column arrays (d,), outputs (n, d) and not overlapping the inputs;
    running statistics both None or both arrays."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], ld
    cdef int nt = _threads(num_threads, n * d)
    cdef int err
    x = _rows(x, &ld)
    cdef void* px = _ptr(x)
    cdef void* pg = _ptr(gamma)
    cdef void* pb = _ptr(beta)
    cdef void* prm = _ptr(running_mean)
    cdef void* prv = _ptr(running_var)
    cdef void* po = _ptr(out)
    cdef void* pc = _ptr(xc)
    cdef void* pn = _ptr(xn)
    cdef void* ps = _ptr(std)
    ts = release_gil_if(n * d >= NOGIL_MIN)
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT:
        err = _train_blocks(<const float*>px, n, d, ld, <const float*>pg,
                            <const float*>pb, <float*>prm, <float*>prv, momentum, eps,
                            <float*>po, <float*>pc, <float*>pn, <float*>ps, nt)
    else:
        err = _train_blocks(<const double*>px, n, d, ld, <const double*>pg,
                            <const double*>pb, <double*>prm, <double*>prv, momentum,
                            eps, <double*>po, <double*>pc, <double*>pn, <double*>ps, nt)
    retake_gil(ts)
    if err:
        raise MemoryError()
    return out


cpdef _infer_into(cnp.ndarray x, cnp.ndarray gamma, cnp.ndarray beta,
                cnp.ndarray running_mean, cnp.ndarray running_var, double eps,
                cnp.ndarray out, num_threads=None):
    """Trusted, as ``_train_into``."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], ld
    cdef int nt = _threads(num_threads, n * d)
    cdef int err
    x = _rows(x, &ld)
    cdef void* px = _ptr(x)
    cdef void* pg = _ptr(gamma)
    cdef void* pb = _ptr(beta)
    cdef void* prm = _ptr(running_mean)
    cdef void* prv = _ptr(running_var)
    cdef void* po = _ptr(out)
    ts = release_gil_if(n * d >= NOGIL_MIN)
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT:
        err = _infer_blocks(<const float*>px, n, d, ld, <const float*>pg,
                            <const float*>pb, <const float*>prm, <const float*>prv,
                            eps, <float*>po, nt)
    else:
        err = _infer_blocks(<const double*>px, n, d, ld, <const double*>pg,
                            <const double*>pb, <const double*>prm,
                            <const double*>prv, eps, <double*>po, nt)
    retake_gil(ts)
    if err:
        raise MemoryError()
    return out


cpdef _backward_into(cnp.ndarray dout, cnp.ndarray xn, cnp.ndarray std, cnp.ndarray gamma,
                   cnp.ndarray dx, cnp.ndarray dgamma, cnp.ndarray dbeta, num_threads=None):
    """Trusted: dout and xn C-contiguous (n, d) of one float dtype, the rest
    C-contiguous of that dtype, outputs not overlapping the inputs."""
    cdef Py_ssize_t n = dout.shape[0], d = dout.shape[1]
    cdef int nt = _threads(num_threads, n * d)
    cdef int err
    cdef void* pd = _ptr(dout)
    cdef void* pn = _ptr(xn)
    cdef void* ps = _ptr(std)
    cdef void* pg = _ptr(gamma)
    cdef void* px = _ptr(dx)
    cdef void* pdg = _ptr(dgamma)
    cdef void* pdb = _ptr(dbeta)
    ts = release_gil_if(n * d >= NOGIL_MIN)
    if cnp.PyArray_TYPE(dout) == cnp.NPY_FLOAT:
        err = _backward_blocks(<const float*>pd, <const float*>pn, <const float*>ps,
                               <const float*>pg, n, d, <float*>px, <float*>pdg,
                               <float*>pdb, nt)
    else:
        err = _backward_blocks(<const double*>pd, <const double*>pn,
                               <const double*>ps, <const double*>pg, n, d,
                               <double*>px, <double*>pdg, <double*>pdb, nt)
    retake_gil(ts)
    if err:
        raise MemoryError()
    return dx, dgamma, dbeta
