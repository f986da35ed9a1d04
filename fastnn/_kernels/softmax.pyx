# cython: language_level=3
"""Softmax with cross-entropy: the softmax family's kernels, its
``SoftmaxOps`` mixin of :class:`fastnn.backends.CompiledOps` and the checked
``fastnn.ops`` functions.

Each kernel follows the reference's formula and operation order in the
array's own precision (float32 stays float32), so float64 results agree
with :mod:`fastnn.reference` to rounding.  Sums use NumPy's pairwise
summation with its blocking, so they round as ``np.sum`` does, and ``exp``
is NumPy's own, called in place on the output buffer (its SIMD loops are
several times faster than libm's scalar exp).

Outputs can be passed in (``y_out=``, ``out=``) and are then reused.  An
output may be the input array itself (each element is read before it is
written) but must not otherwise overlap an input.
"""
from cython cimport floating
from libc.math cimport log, logf
from libc.stdlib cimport malloc, free
from libc.stdint cimport uint8_t, int32_t, int64_t

import numpy as np
cimport numpy as cnp
from fastnn._kernels._fastpath cimport same_shape
from fastnn._kernels.pool cimport Pool, pool_take_like
from fastnn._kernels._args cimport (NOGIL_MIN, _contiguous, _input, _no_overlap, _output,
                                    release_gil_if, retake_gil)

from fastnn._checks import check_label_range, check_same_shape, native

cnp.import_array()


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


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


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class SoftmaxOps:
    """Softmax with cross-entropy on the kernels above; NumpyOps (``super()``)
    for the rest."""

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
    ts = release_gil_if(n * c >= NOGIL_MIN)
    if code == 1:
        ok = _labels_in_range(<const uint8_t*>pt, n, c)
    elif code == 2:
        ok = _labels_in_range(<const int32_t*>pt, n, c)
    else:
        ok = _labels_in_range(<const int64_t*>pt, n, c)
    retake_gil(ts)
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
    ts = release_gil_if(n * c >= NOGIL_MIN)
    if f32:
        softmax_shift_kernel(<const float*>px, <float*>py, n, c)
    else:
        softmax_shift_kernel(<const double*>px, <double*>py, n, c)
    retake_gil(ts)
    np.exp(y, out=y)  # NumPy's SIMD exp: the reference's values, several times libm's speed
    ts = release_gil_if(n * c >= NOGIL_MIN)
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
    retake_gil(ts)
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
    ts = release_gil_if(n * c >= NOGIL_MIN)
    if cnp.PyArray_TYPE(yc) == cnp.NPY_FLOAT:
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
    retake_gil(ts)
    return o
