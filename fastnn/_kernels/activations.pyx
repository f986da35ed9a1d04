# cython: language_level=3
"""ReLU and sigmoid: fused single passes (softmax with cross-entropy: softmax.pyx).

Each kernel follows the reference's formula and operation order in the
array's own precision (float32 stays float32), so float64 results agree
with :mod:`fastnn.reference` to rounding.  The sigmoid's ``exp`` is
NumPy's own, called in place on the output buffer (its SIMD loops are
several times faster than libm's scalar exp).

Outputs can be passed in (``out=``, ``mask=``) and are then reused: that is
how the layer classes avoid allocating per step.  An output may be the input
array itself (each element is read before it is written) but must not
otherwise overlap an input.
"""
from libc.stdint cimport uint8_t

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (GRAIN_ELEMS, NOGIL_MIN, _contiguous, _input,
                                      _no_overlap, _output, elem_at, is_f32, kernel_input,
                                      parallel_range, Pool, pool_take_like, release_gil_if,
                                      retake_gil, same_shape)

from fastnn._checks import check_same_dtype, check_same_shape, check_writeable_contiguous

cnp.import_array()


# -- element-wise kernels -------------------------------------------------------
# The loops live in activations_simd.h (C, cloned for AVX2), one name per
# operation for both dtypes: the flag f32 picks the float or double loop
# (FASTNN_BY_DTYPE, fastnn_common.h), the only float32/float64 dispatch.

cdef extern from "activations_simd.h" nogil:
    # mask = x <= 0;  out = 0 where mask else x.  The book's mask is ``x <= 0``
    # (not ``not x > 0``): NaN is not masked and comes out as NaN, -0.0 is
    # masked and comes out as +0.0.
    void fastnn_relu_fwd(bint f32, const void* x, void* out, uint8_t* mask, Py_ssize_t n)
    # out = 0 where mask else dout
    void fastnn_relu_bwd(bint f32, const void* dout, const uint8_t* mask, void* out,
                         Py_ssize_t n)
    # out = 1 / (1 + e), where e = exp(-x) (the driver gets it from NumPy)
    void fastnn_sigmoid_from_exp(bint f32, const void* e, void* out, Py_ssize_t n)
    # out = dout * (1 - y) * y
    void fastnn_sigmoid_bwd(bint f32, const void* dout, const void* y, void* out,
                            Py_ssize_t n)


# -- argument handling (the shared helpers: _args.pxd) --------------------------

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


# -- drivers: arrays in, one kernel call ------------------------------------------
# Outputs may be an input itself (each element is read before it is written).

# Large arrays go over the thread pool in pieces (edges on multiples of 64
# elements: whole cache lines of the mask and of the data).
cdef struct Elementwise:
    bint f32
    const void* a
    const void* b
    void* out
    uint8_t* mask


cdef void _relu_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const Elementwise* e = <const Elementwise*>ctx
    fastnn_relu_fwd(e.f32, elem_at(e.a, lo, e.f32), elem_at(e.out, lo, e.f32), e.mask + lo,
                    hi - lo)


cdef void _relu_backward_range(void* ctx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef const Elementwise* e = <const Elementwise*>ctx
    fastnn_relu_bwd(e.f32, elem_at(e.a, lo, e.f32), e.mask + lo, elem_at(e.out, lo, e.f32),
                    hi - lo)


cdef void _relu_into(cnp.ndarray x, cnp.ndarray out, cnp.ndarray mask) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef Elementwise e
    e.f32, e.a, e.out = is_f32(x), cnp.PyArray_DATA(x), cnp.PyArray_DATA(out)
    e.mask = <uint8_t*>cnp.PyArray_DATA(mask)
    ts = release_gil_if(n >= NOGIL_MIN)
    parallel_range(_relu_range, &e, n, GRAIN_ELEMS, 64)
    retake_gil(ts)


cdef void _relu_backward_into(cnp.ndarray dout, cnp.ndarray mask, cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    cdef Elementwise e
    e.f32, e.a, e.out = is_f32(dout), cnp.PyArray_DATA(dout), cnp.PyArray_DATA(out)
    e.mask = <uint8_t*>cnp.PyArray_DATA(mask)
    ts = release_gil_if(n >= NOGIL_MIN)
    parallel_range(_relu_backward_range, &e, n, GRAIN_ELEMS, 64)
    retake_gil(ts)


cdef void _sigmoid_into(cnp.ndarray x, cnp.ndarray out):
    # exp is NumPy's (SIMD, the reference's values to the bit), in place in out.
    np.negative(x, out=out)
    np.exp(out, out=out)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(out)
    cdef void* po = cnp.PyArray_DATA(out)
    ts = release_gil_if(n >= NOGIL_MIN)
    fastnn_sigmoid_from_exp(is_f32(out), po, po, n)
    retake_gil(ts)


cdef void _sigmoid_backward_into(cnp.ndarray dout, cnp.ndarray y, cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    ts = release_gil_if(n >= NOGIL_MIN)
    fastnn_sigmoid_bwd(is_f32(dout), cnp.PyArray_DATA(dout), cnp.PyArray_DATA(y),
                       cnp.PyArray_DATA(out), n)
    retake_gil(ts)


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class ActivationOps:
    """ReLU and sigmoid on the kernels above; NumpyOps (``super()``) for the rest."""

    def relu_forward(self, x, Pool pool=None):
        cdef object xa = kernel_input(x)
        if xa is None:
            return super().relu_forward(x, pool)
        cdef cnp.ndarray out = pool_take_like(pool, xa, -1)
        cdef cnp.ndarray mask = pool_take_like(pool, xa, cnp.NPY_BOOL)
        _relu_into(xa, out, mask)
        return out, mask

    def relu_backward(self, dout, mask, Pool pool=None):
        cdef object da = kernel_input(dout)
        if not (da is not None and type(mask) is cnp.ndarray
                and cnp.PyArray_TYPE(<cnp.ndarray>mask) == cnp.NPY_BOOL
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>mask)):
            return super().relu_backward(dout, mask, pool)
        mask = _contiguous(<cnp.ndarray>mask)
        cdef cnp.ndarray dx = pool_take_like(pool, da, -1)
        _relu_backward_into(da, mask, dx)
        return dx

    def sigmoid_forward(self, x, Pool pool=None):
        cdef object xa = kernel_input(x)
        if xa is None or cnp.PyArray_NDIM(<cnp.ndarray>xa) == 0:
            return super().sigmoid_forward(x, pool)   # a 0-d input gives a scalar
        cdef cnp.ndarray out = pool_take_like(pool, xa, -1)
        _sigmoid_into(xa, out)
        return out

    def sigmoid_backward(self, dout, y, Pool pool=None):
        cdef object da = kernel_input(dout), ya = kernel_input(y)
        if not (da is not None and ya is not None
                and cnp.PyArray_TYPE(<cnp.ndarray>da) == cnp.PyArray_TYPE(<cnp.ndarray>ya)
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>ya)):
            return super().sigmoid_backward(dout, y, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, da, -1)
        _sigmoid_backward_into(da, ya, dx)
        return dx


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
