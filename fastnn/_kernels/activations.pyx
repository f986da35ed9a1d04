# cython: language_level=3
"""ReLU, sigmoid and softmax-with-cross-entropy: fused single passes.

Each kernel follows the reference's formula and operation order in the
array's own precision (float32 stays float32), so float64 results agree
with :mod:`fastnn.reference` to rounding.  Sums use NumPy's pairwise
summation with its blocking, so they round as ``np.sum`` does, and ``exp``
is NumPy's own, called in place on the output buffer (its SIMD loops are
several times faster than libm's scalar exp).

Outputs can be passed in (``out=``, ``mask=``) and are then reused: that is
how the layer classes avoid allocating per step.  An output may be the input
array itself (each element is read before it is written) but must not
otherwise overlap an input.
"""
from cython cimport floating
from libc.math cimport log, logf
from libc.stdlib cimport malloc, free
from libc.stdint cimport uint8_t, int32_t, int64_t

import numpy as np
cimport numpy as cnp
from fastnn._kernels._fastpath cimport kernel_input, same_shape
from fastnn._kernels.pool cimport Pool, pool_take_like

from fastnn._checks import (check_float_array, check_label_range, check_no_overlap,
                            check_same_dtype, check_same_shape, check_writeable_contiguous,
                            native)

cnp.import_array()


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


# -- element-wise kernels -------------------------------------------------------
# The loops live in activations_simd.h (C, cloned for AVX2); these fused
# wrappers give them one name per operation for both dtypes.

cdef extern from "activations_simd.h" nogil:
    void fastnn_relu_fwd_d(const double* x, double* out, uint8_t* mask, Py_ssize_t n)
    void fastnn_relu_fwd_f(const float* x, float* out, uint8_t* mask, Py_ssize_t n)
    void fastnn_relu_bwd_d(const double* dout, const uint8_t* mask, double* out, Py_ssize_t n)
    void fastnn_relu_bwd_f(const float* dout, const uint8_t* mask, float* out, Py_ssize_t n)
    void fastnn_sigmoid_from_exp_d(const double* e, double* out, Py_ssize_t n)
    void fastnn_sigmoid_from_exp_f(const float* e, float* out, Py_ssize_t n)
    void fastnn_sigmoid_bwd_d(const double* dout, const double* y, double* out, Py_ssize_t n)
    void fastnn_sigmoid_bwd_f(const float* dout, const float* y, float* out, Py_ssize_t n)


cdef void relu_forward_kernel(const floating* x, floating* out, uint8_t* mask,
                              Py_ssize_t n) noexcept nogil:
    # The book's mask is ``x <= 0`` (not ``not x > 0``): NaN is not masked
    # and comes out as NaN, -0.0 is masked and comes out as +0.0.
    if floating is float:
        fastnn_relu_fwd_f(x, out, mask, n)
    else:
        fastnn_relu_fwd_d(x, out, mask, n)


cdef void relu_backward_kernel(const floating* dout, const uint8_t* mask, floating* out,
                               Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastnn_relu_bwd_f(dout, mask, out, n)
    else:
        fastnn_relu_bwd_d(dout, mask, out, n)


cdef void sigmoid_from_exp_kernel(const floating* e, floating* out,
                                  Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastnn_sigmoid_from_exp_f(e, out, n)
    else:
        fastnn_sigmoid_from_exp_d(e, out, n)


cdef void sigmoid_backward_kernel(const floating* dout, const floating* y, floating* out,
                                  Py_ssize_t n) noexcept nogil:
    if floating is float:
        fastnn_sigmoid_bwd_f(dout, y, out, n)
    else:
        fastnn_sigmoid_bwd_d(dout, y, out, n)


# -- softmax and cross-entropy -------------------------------------------------

cdef floating pairwise_sum(const floating* a, Py_ssize_t n) noexcept nogil:
    # NumPy's @TYPE@_pairwise_sum (loops_utils.h): 8 accumulators up to 128
    # elements, halves (rounded to a multiple of 8) above.
    cdef floating r0, r1, r2, r3, r4, r5, r6, r7, res
    cdef Py_ssize_t i, n2
    if n < 8:
        res = 0
        for i in range(n):
            res = res + a[i]
        return res
    elif n <= 128:
        r0 = a[0]; r1 = a[1]; r2 = a[2]; r3 = a[3]
        r4 = a[4]; r5 = a[5]; r6 = a[6]; r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 = r0 + a[i]; r1 = r1 + a[i + 1]; r2 = r2 + a[i + 2]; r3 = r3 + a[i + 3]
            r4 = r4 + a[i + 4]; r5 = r5 + a[i + 5]; r6 = r6 + a[i + 6]; r7 = r7 + a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res = res + a[i]
            i += 1
        return res
    else:
        n2 = n // 2
        n2 -= n2 % 8
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2)


cdef void softmax_shift_kernel(const floating* x, floating* y, Py_ssize_t n,
                               Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef floating* yr
    cdef floating m, xj
    for i in range(n):
        xr = x + i * c
        yr = y + i * c
        # np.max propagates NaN: once m is NaN it stays NaN.
        m = xr[0]
        for j in range(1, c):
            xj = xr[j]
            if xj > m or xj != xj:
                m = xj
        for j in range(c):
            yr[j] = xr[j] - m


cdef void softmax_normalize_kernel(floating* y, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating* yr
    cdef floating s
    for i in range(n):
        yr = y + i * c
        s = pairwise_sum(<const floating*>yr, c)
        for j in range(c):
            yr[j] = yr[j] / s


cdef inline Py_ssize_t _argmax_row(const floating* r, Py_ssize_t c) noexcept nogil:
    # np.argmax: first maximum; a NaN counts as the maximum (first NaN wins).
    cdef floating best = r[0]
    cdef floating v
    cdef Py_ssize_t j, idx = 0
    if best != best:
        return 0
    for j in range(1, c):
        v = r[j]
        if v > best:
            best = v
            idx = j
        elif v != v:
            return j
    return idx


cdef bint _labels_in_range(const label_t* t, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t v
    for i in range(n):
        v = <int64_t>t[i]
        if v < 0 or v >= c:
            return False
    return True


cdef int _sce_loss(floating* y, Py_ssize_t n, Py_ssize_t c,
                   const label_t* labels, const floating* onehot, double smoothing,
                   floating* loss) noexcept nogil:
    """Normalize y (which holds exp(x - max) per row) to the softmax, then the
    loss.  labels (n,) or onehot (n, c): one is NULL.  -1 when out of memory."""
    cdef Py_ssize_t i, j, l
    cdef floating tiny = <floating>1e-7
    cdef floating a, b, hi, target
    cdef floating* terms
    softmax_normalize_kernel(y, n, c)
    if smoothing == 0.0:
        # -sum(log(y[i, t_i] + 1e-7)) / N; one-hot rows give t_i by argmax.
        terms = <floating*>malloc(max(n, 1) * sizeof(floating))
        if terms == NULL:
            return -1
        for i in range(n):
            if labels != NULL:
                l = <Py_ssize_t>labels[i]
            else:
                l = _argmax_row(onehot + i * c, c)
            terms[i] = _log(y[i * c + l] + tiny)
        loss[0] = -pairwise_sum(<const floating*>terms, n) / <floating>n
    else:
        # -sum(target * log(y + 1e-7)) / N over all N*C entries, with
        # target = (1-eps)*onehot + eps/C formed in the array's precision.
        terms = <floating*>malloc(max(n * c, 1) * sizeof(floating))
        if terms == NULL:
            return -1
        a = <floating>(1.0 - smoothing)
        b = <floating>(smoothing / c)
        hi = a + b
        for i in range(n):
            for j in range(c):
                if labels != NULL:
                    target = hi if j == <Py_ssize_t>labels[i] else b
                else:
                    target = a * onehot[i * c + j] + b
                terms[i * c + j] = target * _log(y[i * c + j] + tiny)
        loss[0] = -pairwise_sum(<const floating*>terms, n * c) / <floating>n
    free(terms)
    return 0


cdef void _sce_backward(const floating* y, floating* dx, Py_ssize_t n, Py_ssize_t c,
                        const label_t* labels, const floating* onehot,
                        double smoothing) noexcept nogil:
    """dx = (y - target) / N; dx may be y itself."""
    cdef Py_ssize_t i, j, l
    cdef floating fn = <floating>n
    cdef floating one = 1
    cdef floating a, b, hi, at_label
    if smoothing == 0.0 and labels != NULL:
        # The reference: dx = y.copy(); dx[i, t_i] -= 1; dx / N.
        for i in range(n):
            l = <Py_ssize_t>labels[i]
            at_label = y[i * c + l] - one
            for j in range(c):
                dx[i * c + j] = y[i * c + j] / fn
            dx[i * c + l] = at_label / fn
    elif smoothing == 0.0:
        for i in range(n * c):
            dx[i] = (y[i] - onehot[i]) / fn
    else:
        a = <floating>(1.0 - smoothing)
        b = <floating>(smoothing / c)
        hi = a + b
        if labels != NULL:
            for i in range(n):
                l = <Py_ssize_t>labels[i]
                for j in range(c):
                    dx[i * c + j] = (y[i * c + j] - (hi if j == l else b)) / fn
        else:
            for i in range(n * c):
                dx[i] = (y[i] - (a * onehot[i] + b)) / fn


# -- argument handling ---------------------------------------------------------
# Fast paths test flags in C; the Python helpers of fastnn._checks run only
# to raise their message (a call of ~2 us checked in Python was most of a
# 100x100 ReLU's time).

cdef inline int _ftype(object a) noexcept:
    """NPY_FLOAT/NPY_DOUBLE for a native-order float32/float64 ndarray, else -1."""
    if not cnp.PyArray_Check(a):
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a):
        return -1
    return t


cdef inline bint _disjoint(cnp.ndarray x, cnp.ndarray y) noexcept:
    """Memory of two C-contiguous arrays does not overlap."""
    cdef char* x0 = <char*>cnp.PyArray_DATA(x)
    cdef char* y0 = <char*>cnp.PyArray_DATA(y)
    return x0 + cnp.PyArray_NBYTES(x) <= y0 or y0 + cnp.PyArray_NBYTES(y) <= x0


cdef inline bint _same_or_disjoint(cnp.ndarray x, cnp.ndarray y) noexcept:
    return (cnp.PyArray_DATA(x) == cnp.PyArray_DATA(y)
            and cnp.PyArray_NBYTES(x) == cnp.PyArray_NBYTES(y)) or _disjoint(x, y)


cdef cnp.ndarray _contiguous(cnp.ndarray a):
    """``a`` itself when C-contiguous and aligned, else a C-ordered copy."""
    if cnp.PyArray_ISCARRAY_RO(a):
        return a
    return a.copy(order="C")


cdef cnp.ndarray _input(str name, object a, int ndim=-1):
    """A float32/float64 input (of rank ``ndim`` if >= 0), C-contiguous."""
    if _ftype(a) < 0:
        a = native(a)
    if _ftype(a) < 0 or (ndim >= 0 and cnp.PyArray_NDIM(<cnp.ndarray>a) != ndim):
        check_float_array(name, a, None if ndim < 0 else ndim)
        raise TypeError("%s must be a native-byte-order float32 or float64 array" % name)
    return _contiguous(<cnp.ndarray>a)


cdef cnp.ndarray _output(str name, object out, str like_name, cnp.ndarray like):
    """A new C-contiguous array shaped and typed like ``like``, or ``out``
    checked for that."""
    if out is None:
        return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like),
                                 cnp.PyArray_TYPE(like), 0)
    if (_ftype(out) == cnp.PyArray_TYPE(like)
            and cnp.PyArray_SAMESHAPE(<cnp.ndarray>out, like)
            and cnp.PyArray_ISCARRAY(<cnp.ndarray>out)):
        return out
    check_float_array(name, out)
    check_same_dtype(like_name, like, **{name: out})
    check_same_shape(like_name, like, **{name: out})
    check_writeable_contiguous(name, out)
    raise TypeError("%s must be a native-byte-order, aligned array" % name)


cdef _no_overlap(str out_name, cnp.ndarray out, str in_name, cnp.ndarray a, bint same_ok):
    # A test of two pointers in C; fastnn._checks decides (and names) the rest.
    if not (_same_or_disjoint(out, a) if same_ok else _disjoint(out, a)):
        check_no_overlap({out_name: out}, {in_name: a}, [(out_name, in_name)] if same_ok else ())


cdef cnp.ndarray _bool_mask(str name, object mask, str like_name, cnp.ndarray like,
                            bint writeable):
    """``mask`` checked to be a bool array of ``like``'s shape; C-contiguous
    (copied if need be, unless ``writeable``: then it must be)."""
    if (cnp.PyArray_Check(mask) and cnp.PyArray_TYPE(<cnp.ndarray>mask) == cnp.NPY_BOOL
            and cnp.PyArray_SAMESHAPE(<cnp.ndarray>mask, like)):
        if not writeable:
            return _contiguous(<cnp.ndarray>mask)
        if cnp.PyArray_ISCARRAY(<cnp.ndarray>mask):
            return mask
        check_writeable_contiguous(name, mask)
    if not isinstance(mask, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(mask).__name__))
    if mask.dtype != np.bool_:
        raise TypeError("%s must have dtype bool, got %s" % (name, mask.dtype))
    check_same_shape(like_name, like, **{name: mask})
    raise ValueError("%s must be an aligned array" % name)


# -- typed drivers: the one float32/float64 dispatch of each kernel ------------

cdef void _relu_into(cnp.ndarray x, cnp.ndarray out, cnp.ndarray mask) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef void* px = cnp.PyArray_DATA(x)
    cdef void* po = cnp.PyArray_DATA(out)
    cdef uint8_t* pm = <uint8_t*>cnp.PyArray_DATA(mask)
    with nogil:
        if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT:
            relu_forward_kernel(<const float*>px, <float*>po, pm, n)
        else:
            relu_forward_kernel(<const double*>px, <double*>po, pm, n)


cdef void _relu_backward_into(cnp.ndarray dout, cnp.ndarray mask, cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    cdef void* pd = cnp.PyArray_DATA(dout)
    cdef void* po = cnp.PyArray_DATA(out)
    cdef const uint8_t* pm = <const uint8_t*>cnp.PyArray_DATA(mask)
    with nogil:
        if cnp.PyArray_TYPE(dout) == cnp.NPY_FLOAT:
            relu_backward_kernel(<const float*>pd, pm, <float*>po, n)
        else:
            relu_backward_kernel(<const double*>pd, pm, <double*>po, n)


cdef void _sigmoid_into(cnp.ndarray x, cnp.ndarray out):
    # exp is NumPy's (SIMD, the reference's values to the bit), in place in out.
    np.negative(x, out=out)
    np.exp(out, out=out)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(out)
    cdef void* po = cnp.PyArray_DATA(out)
    with nogil:
        if cnp.PyArray_TYPE(out) == cnp.NPY_FLOAT:
            sigmoid_from_exp_kernel(<const float*>po, <float*>po, n)
        else:
            sigmoid_from_exp_kernel(<const double*>po, <double*>po, n)


cdef void _sigmoid_backward_into(cnp.ndarray dout, cnp.ndarray y, cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    cdef void* pd = cnp.PyArray_DATA(dout)
    cdef void* py = cnp.PyArray_DATA(y)
    cdef void* po = cnp.PyArray_DATA(out)
    with nogil:
        if cnp.PyArray_TYPE(dout) == cnp.NPY_FLOAT:
            sigmoid_backward_kernel(<const float*>pd, <const float*>py, <float*>po, n)
        else:
            sigmoid_backward_kernel(<const double*>pd, <const double*>py, <double*>po, n)


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class ActivationOps:
    """ReLU and sigmoid on the kernels above; NumpyOps (``super()``) for the rest."""

    def relu_forward(self, x, Pool pool=None):
        cdef object xa = kernel_input(x)
        if xa is None:
            return super().relu_forward(x, pool)
        cdef cnp.ndarray out = pool_take_like(pool, "out", xa, -1)
        cdef cnp.ndarray mask = pool_take_like(pool, "mask", xa, cnp.NPY_BOOL)
        _relu_into(xa, out, mask)
        return out, mask

    def relu_backward(self, dout, mask, Pool pool=None):
        cdef object da = kernel_input(dout)
        if not (da is not None and type(mask) is cnp.ndarray
                and cnp.PyArray_TYPE(<cnp.ndarray>mask) == cnp.NPY_BOOL
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>mask)):
            return super().relu_backward(dout, mask, pool)
        mask = _contiguous(<cnp.ndarray>mask)
        cdef cnp.ndarray dx = pool_take_like(pool, "dx", da, -1)
        _relu_backward_into(da, mask, dx)
        return dx

    def sigmoid_forward(self, x, Pool pool=None):
        cdef object xa = kernel_input(x)
        if xa is None or cnp.PyArray_NDIM(<cnp.ndarray>xa) == 0:
            return super().sigmoid_forward(x, pool)   # a 0-d input gives a scalar
        cdef cnp.ndarray out = pool_take_like(pool, "out", xa, -1)
        _sigmoid_into(xa, out)
        return out

    def sigmoid_backward(self, dout, y, Pool pool=None):
        cdef object da = kernel_input(dout), ya = kernel_input(y)
        if not (da is not None and ya is not None
                and cnp.PyArray_TYPE(<cnp.ndarray>da) == cnp.PyArray_TYPE(<cnp.ndarray>ya)
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>ya)):
            return super().sigmoid_backward(dout, y, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, "dx", da, -1)
        _sigmoid_backward_into(da, ya, dx)
        return dx


    def softmax_cross_entropy_forward(self, x, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(x, t, label_smoothing):
            return super().softmax_cross_entropy_forward(x, t, label_smoothing, pool)
        cdef cnp.ndarray y = pool_take_like(pool, "y", <cnp.ndarray>x, -1)
        return softmax_cross_entropy_forward(x, t, label_smoothing, y)

    def softmax_cross_entropy_backward(self, y, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(y, t, label_smoothing):
            return super().softmax_cross_entropy_backward(y, t, label_smoothing, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, "dx", <cnp.ndarray>y, -1)
        return softmax_cross_entropy_backward(y, t, label_smoothing, dx)


cdef bint _softmaxkernel_input(object x, object t, object label_smoothing):
    """Scores (N, C) and labels the softmax kernels take with the reference's
    meaning: C = 1 is left out (the reference then reads (N,) labels as
    one-hot rows), and so is a NumPy float64 smoothing factor with float32
    scores (not "weak": the reference then computes in float64)."""
    cdef cnp.ndarray xa, ta
    cdef int typenum
    if type(x) is not cnp.ndarray or type(t) is not cnp.ndarray:
        return False
    xa = <cnp.ndarray>x
    ta = <cnp.ndarray>t
    typenum = cnp.PyArray_TYPE(xa)
    if (typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE) or cnp.PyArray_NDIM(xa) != 2:
        return False
    if cnp.PyArray_DIMS(xa)[0] < 1 or cnp.PyArray_DIMS(xa)[1] < 2:
        return False
    if typenum == cnp.NPY_FLOAT and type(label_smoothing) not in (int, float, bool):
        return False
    if cnp.PyArray_NDIM(ta) == 1:
        return (cnp.PyArray_DIMS(ta)[0] == cnp.PyArray_DIMS(xa)[0]
                and (cnp.PyArray_ISINTEGER(ta) and not cnp.PyArray_ISBOOL(ta)))
    return (cnp.PyArray_NDIM(ta) == 2 and same_shape(xa, ta)
            and cnp.PyArray_TYPE(ta) == typenum and not cnp.PyArray_ISBYTESWAPPED(ta)
            and not cnp.PyArray_ISBYTESWAPPED(xa))


# -- checked public functions (fastnn.ops) ----------------------------------------

def relu_forward(x, out=None, mask=None):
    """ReLU as the book writes it: ``mask = x <= 0;  out = x;  out[mask] = 0``.

    Returns ``(out, mask)``: ``out`` has ``x``'s dtype, ``mask`` is bool.
    NaN is not masked and passes through as NaN.  ``x`` is float32 or
    float64 of any shape and layout (a non-contiguous one is copied once);
    ``out`` and ``mask``, when given, are filled in place and must be
    C-contiguous, writeable and of ``x``'s shape (``out`` also of its dtype);
    ``out`` may be ``x`` itself.
    """
    cdef cnp.ndarray xc = _input("x", x)
    cdef cnp.ndarray o = _output("out", out, "x", xc)
    cdef cnp.ndarray mk
    if mask is None:
        mk = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(xc), cnp.PyArray_DIMS(xc), cnp.NPY_BOOL, 0)
    else:
        mk = _bool_mask("mask", mask, "x", xc, True)
        _no_overlap("mask", mk, "x", xc, False)
        _no_overlap("mask", mk, "out", o, False)
    _no_overlap("out", o, "x", xc, True)
    _relu_into(xc, o, mk)
    return o, mk


def relu_backward(dout, mask, out=None):
    """ReLU gradient: ``dx = dout;  dx[mask] = 0`` (``dout`` is not modified).

    ``dout`` is float32 or float64, any layout; ``mask`` is the bool array
    from :func:`relu_forward` (``x <= 0``), of ``dout``'s shape.  ``out``,
    when given, is filled in place (C-contiguous, writeable, ``dout``'s
    shape and dtype) and may be ``dout`` itself.
    """
    cdef cnp.ndarray dc = _input("dout", dout)
    cdef cnp.ndarray mk = _bool_mask("mask", mask, "dout", dc, False)
    cdef cnp.ndarray o = _output("out", out, "dout", dc)
    _no_overlap("out", o, "dout", dc, True)
    _no_overlap("out", o, "mask", mk, False)
    _relu_backward_into(dc, mk, o)
    return o


def sigmoid_forward(x, out=None):
    """Sigmoid: ``out = 1 / (1 + exp(-x))`` in ``x``'s precision.

    ``exp`` is NumPy's (its SIMD loops beat libm's scalar exp several times
    over, and the result is the reference's to the bit); the negation, exp
    and ``1/(1+e)`` run in place in ``out``, without temporaries.  Like
    NumPy, large negative inputs give 0 with an overflow warning.
    ``x`` is float32 or float64, any shape and layout; ``out``, when given,
    is filled in place (C-contiguous, writeable, ``x``'s shape and dtype)
    and may be ``x`` itself.
    """
    cdef cnp.ndarray xc = _input("x", x)
    cdef cnp.ndarray o = _output("out", out, "x", xc)
    _no_overlap("out", o, "x", xc, True)
    _sigmoid_into(xc, o)
    return o


def sigmoid_backward(dout, y, out=None):
    """Sigmoid gradient from its output ``y``: ``dx = dout * (1 - y) * y``.

    ``dout`` and ``y`` are float32 or float64 of one shape and dtype, any
    layout.  ``out``, when given, is filled in place (C-contiguous,
    writeable) and may be ``dout`` or ``y`` itself.
    """
    cdef cnp.ndarray dc = _input("dout", dout)
    cdef cnp.ndarray yc = _input("y", y)
    if cnp.PyArray_TYPE(dc) != cnp.PyArray_TYPE(yc):
        check_same_dtype("dout", dout, y=y)
    if not cnp.PyArray_SAMESHAPE(dc, yc):
        check_same_shape("dout", dout, y=y)
    cdef cnp.ndarray o = _output("out", out, "dout", dc)
    _no_overlap("out", o, "dout", dc, True)
    _no_overlap("out", o, "y", yc, True)
    _sigmoid_backward_into(dc, yc, o)
    return o


cdef _check_smoothing(double label_smoothing):
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError("label_smoothing must be in [0, 1), got %r" % (label_smoothing,))


cdef tuple _labels(t, str like_name, cnp.ndarray like):
    """(code, contiguous t) for labels of ``like``'s (N, C) rows.

    code 1/2/3: integer labels as uint8/int32/int64; 0: one-hot rows of
    ``like``'s dtype.  Raises naming ``t`` for anything else or out-of-range
    labels.
    """
    cdef Py_ssize_t n = like.shape[0], c = like.shape[1]
    if not isinstance(t, np.ndarray):
        raise TypeError("t must be a numpy.ndarray, got %s" % type(t).__name__)
    t = native(t)  # the kernels read the labels' raw bytes
    if t.ndim == 2:
        check_same_shape(like_name, like, t=t)
        if t.dtype != like.dtype:
            raise TypeError("t holds one-hot rows of dtype %s but %s has dtype %s; "
                            "they must match" % (t.dtype, like_name, like.dtype))
        return 0, _contiguous(t)
    if t.ndim != 1:
        raise ValueError("t must be class indices of shape (%d,) or one-hot rows of shape "
                         "(%d, %d), got shape %s" % (n, n, c, t.shape))
    if t.dtype.kind not in "iu":
        raise TypeError("t must hold integer class indices, got dtype %s" % t.dtype)
    if t.shape[0] != n:
        raise ValueError("t has %d labels but %s has %d rows" % (t.shape[0], like_name, n))
    kind, size = t.dtype.kind, t.dtype.itemsize
    if kind == "u" and size == 1:
        code = 1
    elif kind == "i" and size == 4:
        code = 2
    elif kind == "i" and size == 8:
        code = 3
    else:
        check_label_range("t", t, c)
        return 3, np.ascontiguousarray(t, dtype=np.int64)
    cdef cnp.ndarray tc = _contiguous(t)
    cdef void* pt = cnp.PyArray_DATA(tc)
    cdef bint ok
    with nogil:
        if code == 1:
            ok = _labels_in_range(<const uint8_t*>pt, n, c)
        elif code == 2:
            ok = _labels_in_range(<const int32_t*>pt, n, c)
        else:
            ok = _labels_in_range(<const int64_t*>pt, n, c)
    if not ok:
        check_label_range("t", t, c)  # raises, naming t and the range
    return code, tc


cdef cnp.ndarray _check_rows(str name, x):
    cdef cnp.ndarray xc = _input(name, x, 2)
    if xc.shape[0] == 0 or xc.shape[1] == 0:
        raise ValueError("%s must have at least one row and one column, got shape %s"
                         % (name, x.shape))
    return xc


def softmax_cross_entropy_forward(x, t, double label_smoothing=0.0, y_out=None):
    """Softmax over rows, then the mean cross-entropy over the batch.

    ``y = exp(x - max_row) / sum_row``;  ``loss = -sum_i log(y[i, t_i] + 1e-7) / N``,
    or with ``label_smoothing = eps > 0``:
    ``loss = -sum_ij target_ij · log(y_ij + 1e-7) / N``,
    ``target = (1-eps)·onehot + eps/C``.  Returns ``(loss, y)``, the loss a
    NumPy scalar of ``x``'s dtype.

    ``x`` is (N, C) float32 or float64, any layout.  ``t`` is integer class
    indices (N,) in [0, C) (any integer dtype) or one-hot rows (N, C) of
    ``x``'s dtype; the loss then reads the class by argmax, as the book
    does.  ``y_out``, when given, is filled in place (C-contiguous,
    writeable, (N, C), ``x``'s dtype) and may be ``x`` itself.
    """
    _check_smoothing(label_smoothing)
    cdef cnp.ndarray xc = _check_rows("x", x)
    code, tc_obj = _labels(t, "x", xc)
    cdef cnp.ndarray tc = tc_obj
    cdef cnp.ndarray y = _output("y_out", y_out, "x", xc)
    _no_overlap("y_out", y, "x", xc, True)
    _no_overlap("y_out", y, "t", tc, False)
    cdef Py_ssize_t n = xc.shape[0], c = xc.shape[1]
    cdef void* px = cnp.PyArray_DATA(xc)
    cdef void* py = cnp.PyArray_DATA(y)
    cdef void* pt = cnp.PyArray_DATA(tc)
    cdef int icode = code, status
    cdef float loss32
    cdef double loss64
    cdef bint f32 = cnp.PyArray_TYPE(xc) == cnp.NPY_FLOAT
    with nogil:
        if f32:
            softmax_shift_kernel(<const float*>px, <float*>py, n, c)
        else:
            softmax_shift_kernel(<const double*>px, <double*>py, n, c)
    np.exp(y, out=y)  # NumPy's SIMD exp: the reference's values, several times libm's speed
    with nogil:
        if f32:
            if icode == 0:
                status = _sce_loss(<float*>py, n, c, <const int64_t*>NULL,
                                   <const float*>pt, label_smoothing, &loss32)
            elif icode == 1:
                status = _sce_loss(<float*>py, n, c, <const uint8_t*>pt,
                                   <const float*>NULL, label_smoothing, &loss32)
            elif icode == 2:
                status = _sce_loss(<float*>py, n, c, <const int32_t*>pt,
                                   <const float*>NULL, label_smoothing, &loss32)
            else:
                status = _sce_loss(<float*>py, n, c, <const int64_t*>pt,
                                   <const float*>NULL, label_smoothing, &loss32)
        else:
            if icode == 0:
                status = _sce_loss(<double*>py, n, c, <const int64_t*>NULL,
                                   <const double*>pt, label_smoothing, &loss64)
            elif icode == 1:
                status = _sce_loss(<double*>py, n, c, <const uint8_t*>pt,
                                   <const double*>NULL, label_smoothing, &loss64)
            elif icode == 2:
                status = _sce_loss(<double*>py, n, c, <const int32_t*>pt,
                                   <const double*>NULL, label_smoothing, &loss64)
            else:
                status = _sce_loss(<double*>py, n, c, <const int64_t*>pt,
                                   <const double*>NULL, label_smoothing, &loss64)
    if status < 0:
        raise MemoryError()
    return (np.float32(loss32) if f32 else np.float64(loss64)), y


def softmax_cross_entropy_backward(y, t, double label_smoothing=0.0, out=None):
    """Gradient of the mean softmax cross-entropy w.r.t. the logits.

    ``dx = (y - onehot(t)) / N``, or ``(y - target) / N`` with
    ``target = (1-eps)·onehot + eps/C`` when ``label_smoothing = eps > 0``.
    ``y`` is the softmax output (N, C), float32 or float64, any layout;
    ``t`` as in :func:`softmax_cross_entropy_forward` (one-hot rows are
    used by value here, as the book does).  ``out``, when given, is filled
    in place (C-contiguous, writeable, (N, C), ``y``'s dtype) and may be
    ``y`` itself.
    """
    _check_smoothing(label_smoothing)
    cdef cnp.ndarray yc = _check_rows("y", y)
    code, tc_obj = _labels(t, "y", yc)
    cdef cnp.ndarray tc = tc_obj
    cdef cnp.ndarray o = _output("out", out, "y", yc)
    _no_overlap("out", o, "y", yc, True)
    _no_overlap("out", o, "t", tc, False)
    cdef Py_ssize_t n = yc.shape[0], c = yc.shape[1]
    cdef void* py = cnp.PyArray_DATA(yc)
    cdef void* po = cnp.PyArray_DATA(o)
    cdef void* pt = cnp.PyArray_DATA(tc)
    cdef int icode = code
    if cnp.PyArray_TYPE(yc) == cnp.NPY_FLOAT:
        with nogil:
            if icode == 0:
                _sce_backward(<const float*>py, <float*>po, n, c, <const int64_t*>NULL,
                              <const float*>pt, label_smoothing)
            elif icode == 1:
                _sce_backward(<const float*>py, <float*>po, n, c, <const uint8_t*>pt,
                              <const float*>NULL, label_smoothing)
            elif icode == 2:
                _sce_backward(<const float*>py, <float*>po, n, c, <const int32_t*>pt,
                              <const float*>NULL, label_smoothing)
            else:
                _sce_backward(<const float*>py, <float*>po, n, c, <const int64_t*>pt,
                              <const float*>NULL, label_smoothing)
    else:
        with nogil:
            if icode == 0:
                _sce_backward(<const double*>py, <double*>po, n, c, <const int64_t*>NULL,
                              <const double*>pt, label_smoothing)
            elif icode == 1:
                _sce_backward(<const double*>py, <double*>po, n, c, <const uint8_t*>pt,
                              <const double*>NULL, label_smoothing)
            elif icode == 2:
                _sce_backward(<const double*>py, <double*>po, n, c, <const int32_t*>pt,
                              <const double*>NULL, label_smoothing)
            else:
                _sce_backward(<const double*>py, <double*>po, n, c, <const int64_t*>pt,
                              <const double*>NULL, label_smoothing)
    return o
