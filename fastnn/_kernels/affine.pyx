# cython: language_level=3
"""Affine layer kernels: ``out = x·W + b`` and its gradients, on BLAS GEMM.

Two levels, as everywhere in ``_kernels``:

* ``noexcept nogil`` kernels on raw pointers: ``blas_gemm`` (row-major GEMM
  on fastnn's own OpenBLAS, split over the thread pool: ``parallel.pyx``),
  and the column sums and weight-decay scaling
  (``affine_simd.h``, through the one dtype dispatch of fastnn_common.h);
* the unchecked drivers ``_forward_into`` / ``_backward_into``, called by
  the ``AffineOps`` overrides of
  :class:`fastnn.backends.CompiledOps` after their own checks and by the
  checked ``affine_forward`` / ``affine_backward`` of :mod:`fastnn.ops`.

BLAS is column-major; a row-major product C = A·B is computed as the
column-major Cᵀ = Bᵀ·Aᵀ, which is the same memory.  An operand stored
column-major (Fortran order, or a transposed view) is passed with the
transpose flag instead of being copied; only an operand that is neither
(general strides, overlapping or negative strides, misaligned) is copied.
"""
from libc.string cimport memcpy
from libc.limits cimport INT_MAX

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (GRAIN_ELEMS, NOGIL_MIN, blas_gemm, grad_buffer, is_f32,
                                      is_float_array, is_vector, parallel_range, Pool, pool_take,
                                      release_gil_if, retake_gil, same_dtype)

cnp.import_array()


# -- kernels on raw pointers --------------------------------------------------

cdef extern from "affine_simd.h" nogil:
    # f32 picks the float or double loop: the one float32/float64 dispatch
    # (FASTNN_BY_DTYPE, fastnn_common.h).
    # out[j] = Σ_i a[i·rs + j·cs], in row order (as NumPy's a.sum(axis=0) of a
    # C-contiguous array)
    void fastnn_colsum(bint f32, const void* a, Py_ssize_t n, Py_ssize_t m, Py_ssize_t rs,
                       Py_ssize_t cs, void* out)
    # out = w·lam elementwise (lam rounded to the dtype, as NumPy rounds it)
    void fastnn_scale(bint f32, const void* w, double lam, Py_ssize_t n, void* out)


# -- operand layout -----------------------------------------------------------

cdef struct Operand:
    char trans      # b'N': stored row-major; b'T': stored column-major
    int ld          # leading dimension in elements
    void* data


cdef object _as_operand(cnp.ndarray a, Operand* op):
    """Describe 2-D ``a`` for blas_gemm; returns ``a`` or the contiguous copy used."""
    cdef Py_ssize_t r = a.shape[0], c = a.shape[1]
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(a)
    cdef Py_ssize_t s0 = a.strides[0], s1 = a.strides[1]
    cdef Py_ssize_t e0, e1, ld = -1
    if cnp.PyArray_ISALIGNED(a) and s0 % item == 0 and s1 % item == 0:
        e0 = s0 // item
        e1 = s1 // item
        # A dimension of length 1 may carry any stride: it is never stepped.
        if (c == 1 or e1 == 1) and (r == 1 or e0 >= c):
            op.trans = b'N'
            ld = e0 if r > 1 else c
        elif (r == 1 or e0 == 1) and (c == 1 or e1 >= r):
            op.trans = b'T'
            ld = e1 if c > 1 else r
    if ld < 1 or ld > INT_MAX:
        a = np.ascontiguousarray(a)
        op.trans = b'N'
        ld = c
    op.ld = <int>ld
    op.data = cnp.PyArray_DATA(a)
    return a


cdef inline char _flip(char t) noexcept nogil:
    return b'T' if t == b'N' else b'N'


cdef inline bint _fits_int(Py_ssize_t n) noexcept:
    return n <= INT_MAX


# -- drivers on raw pointers (float32 when f32, else float64) ----------------------

cdef struct BiasRows:
    char* out
    const void* bias
    Py_ssize_t row


cdef void _bias_rows(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const BiasRows* f = <const BiasRows*>ctx
    cdef Py_ssize_t i
    for i in range(lo, hi):
        memcpy(f.out + i * f.row, f.bias, f.row)


cdef void _forward_t(bint f32, void* out, const void* bias, Operand* x, Operand* w,
                     int n, int m, int k) noexcept nogil:
    # Bias folded into GEMM: rows of out start as b and gemm adds x·W with
    # beta = 1 (OpenBLAS reads C in its kernel either way; beta = 0 would add
    # a zeroing pass of its own).  The rows are written over the pool in
    # halves (thirds...) on 16-row edges, as the GEMM's split by rows places
    # them: each thread's rows of C are in its own cache when its piece of
    # the GEMM reads them.
    cdef BiasRows f
    f.out, f.bias, f.row = <char*>out, bias, <Py_ssize_t>m * (4 if f32 else 8)
    parallel_range(_bias_rows, &f, n, max(16, GRAIN_ELEMS // max(m, 1)), 16)
    if k > 0:
        blas_gemm(f32, x.trans, w.trans, n, m, k, 1.0, x.data, x.ld, w.data, w.ld, 1.0,
                  out, m)


cdef void _backward_t(bint f32, Operand* dout, Operand* x, Operand* w, void* dx,
                      void* dW, bint decay_in_dW, void* db, Py_ssize_t rs, Py_ssize_t cs,
                      int n, int m, int k) noexcept nogil:
    # dx (n×k) = dout (n×m) · Wᵀ
    if dx != NULL:
        blas_gemm(f32, dout.trans, _flip(w.trans), n, k, m, 1.0, dout.data, dout.ld,
                  w.data, w.ld, 0.0, dx, k)
    # dW (k×m) = xᵀ · dout  (+ the λ·W already in dW when decay_in_dW)
    blas_gemm(f32, _flip(x.trans), dout.trans, k, m, n, 1.0, x.data, x.ld, dout.data,
              dout.ld, 1.0 if decay_in_dW else 0.0, dW, m)
    fastnn_colsum(f32, dout.data, n, m, rs, cs, db)


cdef void _scale_into(cnp.ndarray W, double lam, cnp.ndarray dW) noexcept:
    """dW = W·lam elementwise (W C-contiguous, dW C-contiguous of its shape and
    dtype): np.multiply(W, lam, out=dW) without the ufunc's per-call cost."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(W)
    ts = release_gil_if(n >= NOGIL_MIN)
    fastnn_scale(is_f32(W), cnp.PyArray_DATA(W), lam, n, cnp.PyArray_DATA(dW))
    retake_gil(ts)


# -- unchecked entry points (the layer class has checked everything) -----------

cpdef _forward_into(cnp.ndarray x, cnp.ndarray W, cnp.ndarray b, cnp.ndarray out):
    """out = x·W + b.  Trusted: x (N, K), W (K, M), b (M,), out (N, M)
    C-contiguous, one float dtype, no overlap of out with the inputs."""
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1], m = W.shape[1]
    cdef Operand ox, ow
    if n == 0 or m == 0:
        return out
    if not (_fits_int(n) and _fits_int(m) and _fits_int(k)):
        np.matmul(x, W, out=out)
        out += b
        return out
    if not cnp.PyArray_IS_C_CONTIGUOUS(b):
        b = np.ascontiguousarray(b)
    x = _as_operand(x, &ox)
    W = _as_operand(W, &ow)
    cdef bint f32 = is_f32(out)
    cdef void* po = cnp.PyArray_DATA(out)
    cdef const void* pb = cnp.PyArray_DATA(b)
    with nogil:
        _forward_t(f32, po, pb, &ox, &ow, <int>n, <int>m, <int>k)
    return out


cpdef _backward_into(cnp.ndarray dout, cnp.ndarray x, cnp.ndarray W, dx,
                   cnp.ndarray dW, cnp.ndarray db, double weight_decay=0.0):
    """dx = dout·Wᵀ (skipped when dx is None), dW = xᵀ·dout + weight_decay·W,
    db = Σ_rows dout.  Trusted: shapes agree, one float dtype, outputs
    C-contiguous and not overlapping the inputs."""
    cdef Py_ssize_t n = dout.shape[0], m = dout.shape[1], k = x.shape[1]
    cdef Operand od, ox, ow
    cdef bint decay = weight_decay != 0.0
    cdef void* dxp = NULL
    cdef Py_ssize_t rs, cs
    if decay:
        # Rounded to W's dtype as NumPy rounds a Python float operand.
        if cnp.PyArray_IS_C_CONTIGUOUS(W):
            _scale_into(W, weight_decay, dW)
        else:
            np.multiply(W, weight_decay, out=dW)
    if n == 0 or m == 0 or k == 0 or not (_fits_int(n) and _fits_int(m) and _fits_int(k)):
        # Degenerate or over-sized for 32-bit BLAS: NumPy does it.
        if dx is not None:
            np.matmul(dout, W.T, out=dx)
        if decay:
            dW += x.T @ dout
        else:
            np.matmul(x.T, dout, out=dW)
        np.sum(dout, axis=0, out=db)
        return dx, dW, db
    dout = _as_operand(dout, &od)
    x = _as_operand(x, &ox)
    W = _as_operand(W, &ow)
    # The column sums walk dout with its own strides (gemm may use a copy).
    if od.trans == b'N':
        rs, cs = od.ld, 1
    else:
        rs, cs = 1, od.ld
    if dx is not None:
        dxp = cnp.PyArray_DATA(<cnp.ndarray>dx)
    cdef bint f32 = is_f32(dW)
    cdef void* pw = cnp.PyArray_DATA(dW)
    cdef void* pb = cnp.PyArray_DATA(db)
    with nogil:
        _backward_t(f32, &od, &ox, &ow, dxp, pw, decay, pb, rs, cs, <int>n, <int>m, <int>k)
    return dx, dW, db


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class AffineOps:
    """The affine map on BLAS GEMM.  x of W's dtype goes to GEMM as it is; x
    of another dtype that NumPy promotes to W's (float32 images into a
    float64 layer, integers, byte-swapped floats) is converted once into a
    buffer of the pool; anything else (W or b not native floats of one
    dtype, promotion past W's dtype) is NumpyOps's."""

    def affine_forward(self, x, W, b, Pool pool=None):
        cdef cnp.ndarray xa, wa, x2, out
        cdef cnp.npy_intp dims[2]
        cdef int t
        if not (type(x) is cnp.ndarray and is_float_array(W)
                and cnp.PyArray_NDIM(<cnp.ndarray>x) >= 1
                and cnp.PyArray_NDIM(<cnp.ndarray>W) == 2):
            return super().affine_forward(x, W, b, pool)
        xa = <cnp.ndarray>x
        wa = <cnp.ndarray>W
        t = cnp.PyArray_TYPE(wa)
        if not is_vector(b, t, cnp.PyArray_DIMS(wa)[1]):
            return super().affine_forward(x, W, b, pool)
        x_dtype = xa.dtype
        if not (is_float_array(xa) and cnp.PyArray_TYPE(xa) == t):
            if xa.dtype.kind not in "biuf" or np.result_type(xa.dtype, wa.dtype) != wa.dtype:
                return super().affine_forward(x, W, b, pool)
        x2 = xa if cnp.PyArray_NDIM(xa) == 2 else xa.reshape(cnp.PyArray_DIMS(xa)[0], -1)
        if cnp.PyArray_DIMS(x2)[1] != cnp.PyArray_DIMS(wa)[0]:
            raise ValueError("x has %d features per sample (shape %s) but W has shape %s: "
                             "W.shape[0] must equal the feature count"
                             % (cnp.PyArray_DIMS(x2)[1], (<object>xa).shape, (<object>wa).shape))
        if not (is_float_array(x2) and cnp.PyArray_TYPE(x2) == t):
            # Converted once (exactly: NumPy promotes it to W's dtype) into the pool.
            buf = pool_take(pool, 2, cnp.PyArray_DIMS(x2), t)
            np.copyto(buf, x2, casting="unsafe")
            x2 = buf
        dims[0] = cnp.PyArray_DIMS(x2)[0]
        dims[1] = cnp.PyArray_DIMS(wa)[1]
        out = pool_take(pool, 2, dims, t)
        _forward_into(x2, wa, b, out)
        return out, x2, x_dtype

    def affine_backward(self, dout, x, W, x_dtype=None, need_dx=True, weight_decay=0.0,
                        Pool pool=None, dW=None, db=None):
        cdef cnp.ndarray da, wa, xa
        cdef cnp.npy_intp dbdim[1]
        if not (is_float_array(dout) and is_float_array(W) and is_float_array(x)):
            return super().affine_backward(dout, x, W, x_dtype, need_dx, weight_decay, pool)
        da = <cnp.ndarray>dout
        wa = <cnp.ndarray>W
        xa = <cnp.ndarray>x
        if not (cnp.PyArray_NDIM(da) == 2 and cnp.PyArray_NDIM(wa) == 2
                and cnp.PyArray_NDIM(xa) == 2 and same_dtype(wa, da) and same_dtype(wa, xa)
                and cnp.PyArray_DIMS(da)[0] == cnp.PyArray_DIMS(xa)[0]
                and cnp.PyArray_DIMS(da)[1] == cnp.PyArray_DIMS(wa)[1]
                and cnp.PyArray_DIMS(wa)[0] == cnp.PyArray_DIMS(xa)[1]):
            return super().affine_backward(dout, x, W, x_dtype, need_dx, weight_decay, pool)
        dW = grad_buffer(dW, wa)
        dbdim[0] = cnp.PyArray_DIMS(wa)[1]
        if not (is_vector(db, cnp.PyArray_TYPE(wa), dbdim[0])
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>db)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>db)):
            db = cnp.PyArray_EMPTY(1, dbdim, cnp.PyArray_TYPE(wa), 0)
        dx = (pool_take(pool, 2, cnp.PyArray_DIMS(xa), cnp.PyArray_TYPE(wa))
              if need_dx else None)
        _backward_into(da, xa, wa, dx, dW, db, <double>weight_decay)
        return dx, dW, db
