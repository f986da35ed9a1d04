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

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (NOGIL_MIN, _contiguous, _input, _no_overlap, _output,
                                      is_f32, Pool, pool_take_like, release_gil_if,
                                      retake_gil, same_shape)

from fastnn._checks import check_label_range, check_same_shape, native

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


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class SoftmaxOps:
    """Softmax with cross-entropy on the kernels above; NumpyOps (``super()``)
    for the rest."""

    def softmax_cross_entropy_forward(self, x, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(x, t, label_smoothing):
            return super().softmax_cross_entropy_forward(x, t, label_smoothing, pool)
        cdef cnp.ndarray y = pool_take_like(pool, <cnp.ndarray>x, -1)
        return softmax_cross_entropy_forward(x, t, label_smoothing, y)

    def softmax_cross_entropy_backward(self, y, t, label_smoothing=0.0, Pool pool=None):
        if not _softmaxkernel_input(y, t, label_smoothing):
            return super().softmax_cross_entropy_backward(y, t, label_smoothing, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, <cnp.ndarray>y, -1)
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

    code FASTNN_T_U8/I32/I64: integer labels as uint8/int32/int64;
    FASTNN_T_ONEHOT: one-hot rows of ``like``'s dtype.  Raises naming ``t`` for anything else or out-of-range
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
        return FASTNN_T_ONEHOT, _contiguous(t)
    if t.ndim != 1:
        raise ValueError("t must be class indices of shape (%d,) or one-hot rows of shape "
                         "(%d, %d), got shape %s" % (n, n, c, t.shape))
    if t.dtype.kind not in "iu":
        raise TypeError("t must hold integer class indices, got dtype %s" % t.dtype)
    if t.shape[0] != n:
        raise ValueError("t has %d labels but %s has %d rows" % (t.shape[0], like_name, n))
    kind, size = t.dtype.kind, t.dtype.itemsize
    if kind == "u" and size == 1:
        code = FASTNN_T_U8
    elif kind == "i" and size == 4:
        code = FASTNN_T_I32
    elif kind == "i" and size == 8:
        code = FASTNN_T_I64
    else:
        check_label_range("t", t, c)
        return FASTNN_T_I64, np.ascontiguousarray(t, dtype=np.int64)
    cdef cnp.ndarray tc = _contiguous(t)
    cdef int icode = code
    cdef bint ok
    ts = release_gil_if(n * c >= NOGIL_MIN)
    ok = fastnn_labels_in_range(cnp.PyArray_DATA(tc), icode, n, c)
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


cdef struct Rows:
    # What the kernels read of the checked arguments of a public function.
    bint f32
    Py_ssize_t n, c
    void* a         # the (N, C) rows: scores x, or softmax y
    void* out       # y, or dx
    const void* t   # the labels, of kind code
    int code


cdef tuple _checked(Rows* r, str name, a, t, double label_smoothing, str out_name, out):
    """The arguments of a public function checked (raising with their names):
    rows ``a`` (N, C), called ``name``; labels ``t`` of them; the output
    ``out`` (new when None), called ``out_name``.  Fills ``r``; returns the
    arrays it points into, (rows, labels, output), which the caller holds."""
    _check_smoothing(label_smoothing)
    cdef cnp.ndarray ac = _check_rows(name, a)
    code, tc_obj = _labels(t, name, ac)
    cdef cnp.ndarray tc = tc_obj
    cdef cnp.ndarray o = _output(out_name, out, name, ac)
    _no_overlap(out_name, o, name, ac, True)
    _no_overlap(out_name, o, "t", tc, False)
    r.f32 = is_f32(ac)
    r.n = ac.shape[0]
    r.c = ac.shape[1]
    r.a = cnp.PyArray_DATA(ac)
    r.out = cnp.PyArray_DATA(o)
    r.t = cnp.PyArray_DATA(tc)
    r.code = code
    return ac, tc, o


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
    cdef Rows r
    cdef tuple held = _checked(&r, "x", x, t, label_smoothing, "y_out", y_out)
    y = held[2]
    cdef int status
    cdef double loss
    ts = release_gil_if(r.n * r.c >= NOGIL_MIN)
    fastnn_softmax_shift(r.f32, r.a, r.out, r.n, r.c)
    retake_gil(ts)
    np.exp(y, out=y)  # NumPy's SIMD exp: the reference's values, several times libm's speed
    ts = release_gil_if(r.n * r.c >= NOGIL_MIN)
    status = fastnn_sce_loss(r.f32, r.out, r.n, r.c, r.t, r.code, label_smoothing, &loss)
    retake_gil(ts)
    if status < 0:
        raise MemoryError()
    return (np.float32(loss) if r.f32 else np.float64(loss)), y


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
    cdef Rows r
    cdef tuple held = _checked(&r, "y", y, t, label_smoothing, "out", out)
    ts = release_gil_if(r.n * r.c >= NOGIL_MIN)
    fastnn_sce_backward(r.f32, r.a, r.out, r.n, r.c, r.t, r.code, label_smoothing)
    retake_gil(ts)
    return held[2]
