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
from fastnn._kernels._fastpath cimport (is_float_array, same_shape, is_vector,
                                       may_overlap)
from fastnn._kernels.pool cimport Pool, pool_take

from fastnn._checks import (check_float_array, check_no_overlap, check_output,
                            check_same_dtype, native)
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
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT:
        with nogil:
            err = _train_blocks(<const float*>px, n, d, ld, <const float*>pg,
                                <const float*>pb, <float*>prm, <float*>prv, momentum, eps,
                                <float*>po, <float*>pc, <float*>pn, <float*>ps, nt)
    else:
        with nogil:
            err = _train_blocks(<const double*>px, n, d, ld, <const double*>pg,
                                <const double*>pb, <double*>prm, <double*>prv, momentum,
                                eps, <double*>po, <double*>pc, <double*>pn, <double*>ps, nt)
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
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT:
        with nogil:
            err = _infer_blocks(<const float*>px, n, d, ld, <const float*>pg,
                                <const float*>pb, <const float*>prm, <const float*>prv,
                                eps, <float*>po, nt)
    else:
        with nogil:
            err = _infer_blocks(<const double*>px, n, d, ld, <const double*>pg,
                                <const double*>pb, <const double*>prm,
                                <const double*>prv, eps, <double*>po, nt)
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
    if cnp.PyArray_TYPE(dout) == cnp.NPY_FLOAT:
        with nogil:
            err = _backward_blocks(<const float*>pd, <const float*>pn, <const float*>ps,
                                   <const float*>pg, n, d, <float*>px, <float*>pdg,
                                   <float*>pdb, nt)
    else:
        with nogil:
            err = _backward_blocks(<const double*>pd, <const double*>pn,
                                   <const double*>ps, <const double*>pg, n, d,
                                   <double*>px, <double*>pdg, <double*>pdb, nt)
    if err:
        raise MemoryError()
    return dx, dgamma, dbeta


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----
# Its checks, buffers and kernel call in C: the same tests in Python cost
# ~3 us per call, as much as the kernels at 100x100.  Each returns None,
# before touching the layer, when the reference code must run instead.

cdef inline bint _running_ok(object a, int typenum, Py_ssize_t d) noexcept:
    """A running statistic the kernel can update in place."""
    return (is_vector(a, typenum, d) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a))


cdef object _grad_buffer(object buf, Py_ssize_t d, int typenum):
    """``buf`` if it can be overwritten as a (d,) parameter gradient, else a new array."""
    cdef cnp.npy_intp dims[1]
    if (is_vector(buf, typenum, d) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>buf)
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>buf)):
        return buf
    dims[0] = d
    return cnp.PyArray_EMPTY(1, dims, typenum, 0)


cdef bint _updates_overlap(cnp.ndarray rm, cnp.ndarray rv, cnp.ndarray x,
                           cnp.ndarray gamma, cnp.ndarray beta) noexcept:
    """The running statistics (updated in place) share memory with each other
    or with what the forward pass reads: the reference then runs (it rebinds
    them to new arrays, so gamma/beta/x never change under it)."""
    return (may_overlap(rm, rv) or may_overlap(rm, x) or may_overlap(rv, x)
            or may_overlap(rm, gamma) or may_overlap(rv, gamma)
            or may_overlap(rm, beta) or may_overlap(rv, beta))
cdef inline object _c(object a):
    """``a`` itself when C-contiguous, else a C-contiguous copy."""
    if cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a):
        return a
    return np.ascontiguousarray(a)


cdef int _rows_typenum(object x):
    """NPY_FLOAT/NPY_DOUBLE for an exact native (N, D) float ndarray with
    N >= 1 (what the kernels take, any strides), else -1."""
    if not is_float_array(x):
        return -1
    if cnp.PyArray_NDIM(<cnp.ndarray>x) != 2 or cnp.PyArray_DIMS(<cnp.ndarray>x)[0] < 1:
        return -1
    return cnp.PyArray_TYPE(<cnp.ndarray>x)


class BatchNormOps:
    """Batch normalization on the two-pass kernels; NumpyOps (``super()``)
    for what they do not take: other or mixed dtypes, running statistics
    they cannot update in place (read-only, another layout, sharing memory
    with what the forward pass reads), empty batches."""

    def batchnorm_forward_train(self, x, gamma, beta, running_mean, running_var,
                                momentum=0.9, eps=1e-6, Pool pool=None):
        cdef int t = _rows_typenum(x)
        cdef Py_ssize_t n, d
        cdef cnp.npy_intp dims[2]
        if t >= 0:
            n = cnp.PyArray_DIMS(<cnp.ndarray>x)[0]
            d = cnp.PyArray_DIMS(<cnp.ndarray>x)[1]
        if not (t >= 0 and is_vector(gamma, t, d) and is_vector(beta, t, d)
                and _running_ok(running_mean, t, d) and _running_ok(running_var, t, d)
                and not _updates_overlap(<cnp.ndarray>running_mean, <cnp.ndarray>running_var,
                                         <cnp.ndarray>x, <cnp.ndarray>gamma,
                                         <cnp.ndarray>beta)):
            return super().batchnorm_forward_train(x, gamma, beta, running_mean, running_var,
                                                   momentum, eps, pool)
        dims[0] = n
        dims[1] = d
        cdef cnp.ndarray out = pool_take(pool, "out", 2, dims, t)
        cdef cnp.ndarray xc = pool_take(pool, "xc", 2, dims, t)
        cdef cnp.ndarray xn = pool_take(pool, "xn", 2, dims, t)
        cdef cnp.ndarray std = pool_take(pool, "std", 1, &dims[1], t)
        _train_into(x, _c(gamma), _c(beta), running_mean,
                    running_var, <double>momentum, <double>eps, out, xc, xn, std)
        return out, xc, xn, std, running_mean, running_var

    def batchnorm_forward_infer(self, x, gamma, beta, running_mean, running_var, eps=1e-6,
                                Pool pool=None):
        cdef int t = _rows_typenum(x)
        cdef Py_ssize_t d
        if t >= 0:
            d = cnp.PyArray_DIMS(<cnp.ndarray>x)[1]
        if not (t >= 0 and is_vector(gamma, t, d) and is_vector(beta, t, d)
                and is_vector(running_mean, t, d) and is_vector(running_var, t, d)):
            return super().batchnorm_forward_infer(x, gamma, beta, running_mean, running_var,
                                                   eps, pool)
        cdef cnp.ndarray out = pool_take(pool, "out", 2, cnp.PyArray_DIMS(<cnp.ndarray>x), t)
        _infer_into(x, _c(gamma), _c(beta), _c(running_mean), _c(running_var), <double>eps,
                    out)
        return out

    def batchnorm_backward(self, dout, xn, xc, std, gamma, batch_size, Pool pool=None,
                           dgamma=None, dbeta=None):
        """``dgamma``/``dbeta``: last step's gradient arrays, overwritten in place
        when they fit (as PyTorch's ``.grad``)."""
        cdef int t = _rows_typenum(xn)
        cdef Py_ssize_t n, d
        if t >= 0:
            n = cnp.PyArray_DIMS(<cnp.ndarray>xn)[0]
            d = cnp.PyArray_DIMS(<cnp.ndarray>xn)[1]
        if not (t >= 0 and _rows_typenum(dout) == t and same_shape(<cnp.ndarray>dout,
                                                                    <cnp.ndarray>xn)
                and is_vector(std, t, d) and is_vector(gamma, t, d) and batch_size == n):
            return super().batchnorm_backward(dout, xn, xc, std, gamma, batch_size, pool)
        cdef cnp.ndarray dx = pool_take(pool, "dx", 2, cnp.PyArray_DIMS(<cnp.ndarray>xn), t)
        dgamma = _grad_buffer(dgamma, d, t)
        dbeta = _grad_buffer(dbeta, d, t)
        _backward_into(_c(dout), _c(xn), _c(std), _c(gamma), dx, dgamma, dbeta)
        return dx, dgamma, dbeta




# -- checked public functions ---------------------------------------------------

def _vector(name, a, d, dtype, ref="x"):
    a = native(a)
    check_float_array(name, a, 1)
    if a.dtype != dtype:
        raise TypeError("%s has dtype %s but %s has dtype %s; they must match"
                        % (name, a.dtype, ref, dtype))
    if a.shape[0] != d:
        raise ValueError("%s has shape %s but must have shape (%d,), one entry per column"
                         % (name, a.shape, d))
    return np.ascontiguousarray(a)


def _output(name, out, shape, dtype, inputs):
    return check_output(name, out, shape, dtype, inputs)


def _running(name, a, d, dtype):
    """A running statistic updated in place: (d,), x's dtype, C-contiguous, writeable."""
    check_float_array(name, a, 1)
    if a.dtype != dtype:
        raise TypeError("%s has dtype %s but x has dtype %s; they must match"
                        % (name, a.dtype, dtype))
    if a.shape[0] != d:
        raise ValueError("%s has shape %s but must have shape (%d,)" % (name, a.shape, d))
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError("%s is updated in place and must be a writeable C-contiguous "
                         "array" % name)
    return a


def batchnorm_forward_train(x, gamma, beta, running_mean=None, running_var=None,
                            momentum=0.9, eps=1e-6, out=None, xc=None, xn=None, std=None,
                            *, num_threads=None):
    """Training-mode batch normalization; returns ``(out, xc, xn, std)``.

    Per column j of x (N, D), with the biased batch variance:
        mean_j = Σ_i x_ij / N,   var_j = Σ_i (x_ij - mean_j)² / N,
        std_j  = sqrt(var_j + eps),
        xc = x - mean,   xn = xc / std,   out = gamma·xn + beta;
    and, if given, the running statistics are updated in place:
        running_mean = momentum·running_mean + (1-momentum)·mean
        running_var  = momentum·running_var  + (1-momentum)·var.

    x: (N, D) float32 or float64, rows with unit column stride (other
    layouts are copied once); gamma, beta, running_mean, running_var: (D,)
    of x's dtype (the running statistics writeable and C-contiguous, both
    given or both None).  ``out``/``xc``/``xn`` (N, D) and ``std`` (D,), if
    given, must be writeable C-contiguous arrays of x's dtype not sharing
    memory with the inputs; they are overwritten.  ``eps`` defaults to the
    book's 1e-6.  Mean and variance are computed in double.
    """
    x = native(x)
    check_float_array("x", x, 2)
    n, d = x.shape
    if n == 0:
        raise ValueError("x has shape %s: batch normalization needs at least one row"
                         % (x.shape,))
    gamma = _vector("gamma", gamma, d, x.dtype)
    beta = _vector("beta", beta, d, x.dtype)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both None")
    if running_mean is not None:
        running_mean = _running("running_mean", running_mean, d, x.dtype)
        running_var = _running("running_var", running_var, d, x.dtype)
    out = _output("out", out, (n, d), x.dtype, None)
    xc = _output("xc", xc, (n, d), x.dtype, None)
    xn = _output("xn", xn, (n, d), x.dtype, None)
    std = _output("std", std, (d,), x.dtype, None)
    check_no_overlap(dict(running_mean=running_mean, running_var=running_var, out=out,
                          xc=xc, xn=xn, std=std), dict(x=x, gamma=gamma, beta=beta))
    _train_into(x, gamma, beta, running_mean, running_var, float(momentum), float(eps),
                out, xc, xn, std, num_threads)
    return out, xc, xn, std


def batchnorm_forward_infer(x, gamma, beta, running_mean, running_var, eps=1e-6,
                            out=None, *, num_threads=None):
    """Inference-mode batch normalization, one pass:
        out = gamma·(x - running_mean)/sqrt(running_var + eps) + beta
    (per column; computed as (x - running_mean)·s + beta with
    s = gamma/sqrt(running_var + eps)).

    x: (N, D) float32 or float64 (rows with unit column stride; other layouts
    are copied once); gamma, beta, running_mean, running_var: (D,) of x's
    dtype.  ``out`` (N, D), if given, must be a writeable C-contiguous array
    of x's dtype sharing no memory with the inputs; it is overwritten.
    Returns ``out``.
    """
    x = native(x)
    check_float_array("x", x, 2)
    n, d = x.shape
    gamma = _vector("gamma", gamma, d, x.dtype)
    beta = _vector("beta", beta, d, x.dtype)
    running_mean = _vector("running_mean", running_mean, d, x.dtype)
    running_var = _vector("running_var", running_var, d, x.dtype)
    out = _output("out", out, (n, d), x.dtype, dict(x=x, gamma=gamma, beta=beta,
                                                    running_mean=running_mean,
                                                    running_var=running_var))
    return _infer_into(x, gamma, beta, running_mean, running_var, float(eps), out,
                       num_threads)


def batchnorm_backward(dout, xn, std, gamma, dx=None, dgamma=None, dbeta=None,
                       *, num_threads=None):
    """Gradients of training-mode batch normalization; returns
    ``(dx, dgamma, dbeta)``.

    Per column, with N rows:
        dbeta  = Σ_i dout,   dgamma = Σ_i xn·dout,
        dx     = (gamma/std)·(dout - dbeta/N - xn·dgamma/N),
    the book's chain rule through xc, std, var and mean, simplified with
    xn = xc/std (equal to rounding).

    dout, xn: (N, D) float32 or float64 (copied once if not C-contiguous);
    std, gamma: (D,) of the same dtype (``xn`` and ``std`` as returned by
    :func:`batchnorm_forward_train`).  ``dx`` (N, D), ``dgamma``/``dbeta``
    (D,), if given, must be writeable C-contiguous arrays of that dtype
    sharing no memory with the inputs; they are overwritten.
    """
    dout = native(dout)
    xn = native(xn)
    check_float_array("dout", dout, 2)
    check_float_array("xn", xn, 2)
    check_same_dtype("dout", dout, xn=xn)
    if xn.shape != dout.shape:
        raise ValueError("xn has shape %s but dout has shape %s; they must match"
                         % (xn.shape, dout.shape))
    n, d = dout.shape
    if n == 0:
        raise ValueError("dout has shape %s: batch normalization needs at least one row"
                         % (dout.shape,))
    std = _vector("std", std, d, dout.dtype, "dout")
    gamma = _vector("gamma", gamma, d, dout.dtype, "dout")
    dout = np.ascontiguousarray(dout)
    xn = np.ascontiguousarray(xn)
    dx = _output("dx", dx, (n, d), dout.dtype, None)
    dgamma = _output("dgamma", dgamma, (d,), dout.dtype, None)
    dbeta = _output("dbeta", dbeta, (d,), dout.dtype, None)
    check_no_overlap(dict(dx=dx, dgamma=dgamma, dbeta=dbeta),
                     dict(dout=dout, xn=xn, std=std, gamma=gamma))
    return _backward_into(dout, xn, std, gamma, dx, dgamma, dbeta, num_threads)
