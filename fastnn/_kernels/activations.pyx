# cython: language_level=3
"""ReLU, sigmoid and tanh: fused single passes (softmax with cross-entropy: softmax.pyx).

Each kernel follows the reference's formula and operation order in the
array's own precision (float32 stays float32), so float64 results agree
with :mod:`fastnn.reference` to rounding.  The sigmoid's ``exp`` is
NumPy's own, called in place on the output buffer (its SIMD loops are
several times faster than libm's scalar exp).

The family: the C loops (activations_simd.h), unchecked drivers, and the
``ActivationOps`` overrides of :class:`fastnn.backends.CompiledOps`; the
checked public functions are in :mod:`fastnn.ops`.
"""
from libc.stdint cimport uint8_t

import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (GRAIN_ELEMS, NOGIL_MIN, _contiguous, elem_at, is_f32,
                                      kernel_input, parallel_range, Pool, pool_take_like,
                                      release_gil_if, retake_gil, same_shape)

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


# -- drivers: arrays in, one kernel call ------------------------------------------
# Unchecked: the ActivationOps overrides and the checked fastnn.ops functions
# (fastnn/ops.py) call them with native, aligned, C-contiguous arrays of one
# float dtype and shape (a bool mask of that shape).  An output may be an
# input itself (each element is read before it is written).

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


cpdef void _relu_into(cnp.ndarray x, cnp.ndarray out, cnp.ndarray mask) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef Elementwise e
    e.f32, e.a, e.out = is_f32(x), cnp.PyArray_DATA(x), cnp.PyArray_DATA(out)
    e.mask = <uint8_t*>cnp.PyArray_DATA(mask)
    ts = release_gil_if(n >= NOGIL_MIN)
    parallel_range(_relu_range, &e, n, GRAIN_ELEMS, 64)
    retake_gil(ts)


cpdef void _relu_backward_into(cnp.ndarray dout, cnp.ndarray mask,
                              cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    cdef Elementwise e
    e.f32, e.a, e.out = is_f32(dout), cnp.PyArray_DATA(dout), cnp.PyArray_DATA(out)
    e.mask = <uint8_t*>cnp.PyArray_DATA(mask)
    ts = release_gil_if(n >= NOGIL_MIN)
    parallel_range(_relu_backward_range, &e, n, GRAIN_ELEMS, 64)
    retake_gil(ts)


cpdef void _sigmoid_into(cnp.ndarray x, cnp.ndarray out):
    # exp is NumPy's (SIMD, the reference's values to the bit), in place in out.
    np.negative(x, out=out)
    np.exp(out, out=out)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(out)
    cdef void* po = cnp.PyArray_DATA(out)
    ts = release_gil_if(n >= NOGIL_MIN)
    fastnn_sigmoid_from_exp(is_f32(out), po, po, n)
    retake_gil(ts)


cpdef void _sigmoid_backward_into(cnp.ndarray dout, cnp.ndarray y,
                                 cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    ts = release_gil_if(n >= NOGIL_MIN)
    fastnn_sigmoid_bwd(is_f32(dout), cnp.PyArray_DATA(dout), cnp.PyArray_DATA(y),
                       cnp.PyArray_DATA(out), n)
    retake_gil(ts)


# tanh: the forward pass is NumPy's own np.tanh into the output buffer (its SIMD
# loop: a C loop calling libm's tanh ran 7x (float64) to 52x (float32) slower,
# and differs in the last bit); the backward pass dout·(1 - y²) is one fused
# loop, written here in Cython: the squares, differences and products are
# rounded in NumPy's order, and GCC vectorizes the loop.
ctypedef fused real:
    float
    double


cdef void _tanh_backward_loop(const real* dout, const real* y, real* out,
                              Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef real yi
    cdef real one = 1       # a literal 1 would be the C double 1.0: float32 in double
    for i in range(n):
        yi = y[i]
        out[i] = dout[i] * (one - yi * yi)


cpdef void _tanh_backward_into(cnp.ndarray dout, cnp.ndarray y, cnp.ndarray out) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dout)
    ts = release_gil_if(n >= NOGIL_MIN)
    if is_f32(dout):
        _tanh_backward_loop(<const float*>cnp.PyArray_DATA(dout),
                            <const float*>cnp.PyArray_DATA(y), <float*>cnp.PyArray_DATA(out), n)
    else:
        _tanh_backward_loop(<const double*>cnp.PyArray_DATA(dout),
                            <const double*>cnp.PyArray_DATA(y), <double*>cnp.PyArray_DATA(out), n)
    retake_gil(ts)


# -- compiled overrides of NumpyOps (mixed into fastnn.backends.CompiledOps) -----

class ActivationOps:
    """ReLU, sigmoid and tanh on the kernels above; NumpyOps (``super()``) for the rest."""

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

    def tanh_forward(self, x, Pool pool=None):
        cdef object xa = kernel_input(x)
        if xa is None or cnp.PyArray_NDIM(<cnp.ndarray>xa) == 0:
            return super().tanh_forward(x, pool)
        cdef cnp.ndarray out = pool_take_like(pool, xa, -1)
        np.tanh(xa, out=out)
        return out

    def tanh_backward(self, dout, y, Pool pool=None):
        cdef object da = kernel_input(dout), ya = kernel_input(y)
        if not (da is not None and ya is not None
                and cnp.PyArray_TYPE(<cnp.ndarray>da) == cnp.PyArray_TYPE(<cnp.ndarray>ya)
                and same_shape(<cnp.ndarray>da, <cnp.ndarray>ya)):
            return super().tanh_backward(dout, y, pool)
        cdef cnp.ndarray dx = pool_take_like(pool, da, -1)
        _tanh_backward_into(da, ya, dx)
        return dx
