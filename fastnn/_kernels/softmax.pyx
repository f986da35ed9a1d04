# cython: language_level=3
"""Softmax with cross-entropy: the softmax family's kernels, its unchecked
drivers and its ``SoftmaxOps`` mixin of :class:`fastnn.backends.CompiledOps`
(the checked public functions are in :mod:`fastnn.ops`).

Each kernel follows the reference's formula and operation order in the
array's own precision (float32 stays float32), so float64 results agree
with :mod:`fastnn.reference` to rounding.  Sums use NumPy's pairwise
summation with its blocking, so they round as ``np.sum`` does, and ``exp``
is NumPy's own, called in place on the output buffer (its SIMD loops are
several times faster than libm's scalar exp).

An output may be the input array itself (each element is read before it
is written).
"""

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (NOGIL_MIN, _contiguous, is_f32, kernel_input, Pool,
                                      pool_take_like, release_gil_if, retake_gil, same_shape)

from fastnn._checks import check_label_range

cnp.import_array()


# -- the kernels (C, in softmax_simd.h) ---------------------------------------------
# f32 picks the float or double loop: the one float32/float64 dispatch
# (FASTNN_BY_DTYPE, fastnn_common.h).  t is the labels' data and code their
# kind: class indices (uint8/int32/int64) or one-hot rows of x's dtype.

cdef extern from "softmax_simd.h" nogil:
    enum:
        FASTNN_T_ONEHOT, FASTNN_T_U8, FASTNN_T_I32, FASTNN_T_I64
    # n class indices all in [0, c)
    bint fastnn_labels_in_range(const void* t, int code, Py_ssize_t n, Py_ssize_t c)
    # y = x - max_row (y may be x)
    void fastnn_softmax_shift(bint f32, const void* x, void* y, Py_ssize_t n, Py_ssize_t c)
    # y (exp(x - max_row), from NumPy) normalized to the softmax in place; the
    # mean loss in *loss; -1 when out of memory
    int fastnn_sce_loss(bint f32, void* y, Py_ssize_t n, Py_ssize_t c, const void* t,
                        int code, double smoothing, double* loss)
    # dx = (y - target) / N (dx may be y)
    void fastnn_sce_backward(bint f32, const void* y, void* dx, Py_ssize_t n, Py_ssize_t c,
                             const void* t, int code, double smoothing)


# -- drivers ------------------------------------------------------------------------
# Unchecked: the SoftmaxOps overrides and the checked fastnn.ops functions
# (fastnn/ops.py) call them with rows a (N, C), N, C >= 1, native,
# C-contiguous float32/float64; labels t as _labels_for_kernel returns them;
# an output of a's shape and dtype that is a itself or shares no memory with
# a or t; 0 <= smoothing < 1.

cdef inline int _label_code(cnp.ndarray t) noexcept:
    """The kernels' code for labels t: one-hot rows (2-D), or class indices
    as uint8/int32/int64 (-1 for other integer dtypes)."""
    if cnp.PyArray_NDIM(t) == 2:
        return FASTNN_T_ONEHOT
    cdef Py_ssize_t size = cnp.PyArray_ITEMSIZE(t)
    if cnp.PyArray_ISUNSIGNED(t):
        return FASTNN_T_U8 if size == 1 else -1
    if cnp.PyArray_ISSIGNED(t):
        return FASTNN_T_I32 if size == 4 else FASTNN_T_I64 if size == 8 else -1
    return -1


cpdef cnp.ndarray _labels_for_kernel(cnp.ndarray t, Py_ssize_t c):
    """Labels as the kernels read them: one-hot rows (N, C) of the rows' dtype,
    or class indices (N,) of an integer dtype, checked by the caller for
    that; returned native and C-contiguous, indices of other widths as
    int64.  Class indices outside [0, c) raise the ValueError of
    fastnn._checks.check_label_range, naming t (a C scan finds them)."""
    cdef bint ok
    if cnp.PyArray_ISBYTESWAPPED(t):
        t = t.astype(t.dtype.newbyteorder("="))
    if cnp.PyArray_NDIM(t) == 2:
        return _contiguous(t)
    cdef int code = _label_code(t)
    if code < 0:
        check_label_range("t", t, c)
        return np.ascontiguousarray(t, dtype=np.int64)
    cdef cnp.ndarray tc = _contiguous(t)
    cdef Py_ssize_t n = cnp.PyArray_DIMS(tc)[0]
    ts = release_gil_if(n >= NOGIL_MIN)
    ok = fastnn_labels_in_range(cnp.PyArray_DATA(tc), code, n, c)
    retake_gil(ts)
    if not ok:
        check_label_range("t", t, c)  # raises, naming t and the range
    return tc


cpdef _forward_into(cnp.ndarray x, cnp.ndarray t, double smoothing, cnp.ndarray y):
    """y = softmax(x) by rows; returns the mean loss, a NumPy scalar of x's dtype."""
    cdef bint f32 = is_f32(x)
    cdef Py_ssize_t n = cnp.PyArray_DIMS(x)[0], c = cnp.PyArray_DIMS(x)[1]
    cdef int status
    cdef double loss
    ts = release_gil_if(n * c >= NOGIL_MIN)
    fastnn_softmax_shift(f32, cnp.PyArray_DATA(x), cnp.PyArray_DATA(y), n, c)
    retake_gil(ts)
    np.exp(y, out=y)  # NumPy's SIMD exp: the reference's values, several times libm's speed
    ts = release_gil_if(n * c >= NOGIL_MIN)
    status = fastnn_sce_loss(f32, cnp.PyArray_DATA(y), n, c, cnp.PyArray_DATA(t),
                             _label_code(t), smoothing, &loss)
    retake_gil(ts)
    if status < 0:
        raise MemoryError()
    return np.float32(loss) if f32 else np.float64(loss)


cpdef cnp.ndarray _backward_into(cnp.ndarray y, cnp.ndarray t, double smoothing,
                                 cnp.ndarray dx):
    """dx = (y - target) / N; returns dx."""
    cdef Py_ssize_t n = cnp.PyArray_DIMS(y)[0], c = cnp.PyArray_DIMS(y)[1]
    ts = release_gil_if(n * c >= NOGIL_MIN)
    fastnn_sce_backward(is_f32(y), cnp.PyArray_DATA(y), cnp.PyArray_DATA(dx), n, c,
                        cnp.PyArray_DATA(t), _label_code(t), smoothing)
    retake_gil(ts)
    return dx


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

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


cdef double _smoothing(object label_smoothing) except -1.0:
    cdef double eps = label_smoothing
    if not 0.0 <= eps < 1.0:
        raise ValueError("label_smoothing must be in [0, 1), got %r" % (eps,))
    return eps


class SoftmaxOps:
    """Softmax with cross-entropy on the kernels above; NumpyOps (``super()``)
    for the rest.  One check per call: the dispatch test in C, then the
    labels' range (a C scan; out-of-range labels raise a ValueError naming
    t) and the smoothing factor's."""

    def softmax_cross_entropy_forward(self, x, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(x, t, label_smoothing):
            return super().softmax_cross_entropy_forward(x, t, label_smoothing, pool)
        cdef double eps = _smoothing(label_smoothing)
        cdef cnp.ndarray xa = kernel_input(x)
        cdef cnp.ndarray ta = _labels_for_kernel(<cnp.ndarray>t, cnp.PyArray_DIMS(xa)[1])
        cdef cnp.ndarray y = pool_take_like(pool, xa, -1)
        return _forward_into(xa, ta, eps, y), y

    def softmax_cross_entropy_backward(self, y, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(y, t, label_smoothing):
            return super().softmax_cross_entropy_backward(y, t, label_smoothing, pool)
        cdef double eps = _smoothing(label_smoothing)
        cdef cnp.ndarray ya = kernel_input(y)
        cdef cnp.ndarray ta = _labels_for_kernel(<cnp.ndarray>t, cnp.PyArray_DIMS(ya)[1])
        cdef cnp.ndarray dx = pool_take_like(pool, ya, -1)
        return _backward_into(ya, ta, eps, dx)
