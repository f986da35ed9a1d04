# cython: language_level=3
"""Fused in-place optimizer updates: one pass over each parameter array."""
from cython cimport floating
from libc.math cimport sqrt, sqrtf

import numpy as np
cimport numpy as cnp

from fastnn._checks import (check_float_array, check_same_dtype, check_same_shape,
                            check_writeable_contiguous)

cnp.import_array()


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void adam_kernel(floating* p, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, double lr_t, double beta1, double beta2,
                      double eps) noexcept nogil:
    # Same operation order as the reference, in the array's own precision,
    # so float64 agrees to rounding and float32 stays float32.
    cdef floating c1 = <floating>(1.0 - beta1)
    cdef floating c2 = <floating>(1.0 - beta2)
    cdef floating lr = <floating>lr_t
    cdef floating e = <floating>eps
    cdef floating gi, mi, vi
    cdef Py_ssize_t i
    for i in range(n):
        gi = g[i]
        mi = m[i] + c1 * (gi - m[i])
        vi = v[i] + c2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr * mi / (_sqrt(vi) + e)


cdef void _adam_dispatch(cnp.ndarray param, cnp.ndarray grad, cnp.ndarray m,
                         cnp.ndarray v, double lr_t, double beta1, double beta2,
                         double eps):
    cdef Py_ssize_t n = param.size
    if param.dtype == np.float32:
        with nogil:
            adam_kernel(<float*>cnp.PyArray_DATA(param), <const float*>cnp.PyArray_DATA(grad),
                        <float*>cnp.PyArray_DATA(m), <float*>cnp.PyArray_DATA(v),
                        n, lr_t, beta1, beta2, eps)
    else:
        with nogil:
            adam_kernel(<double*>cnp.PyArray_DATA(param), <const double*>cnp.PyArray_DATA(grad),
                        <double*>cnp.PyArray_DATA(m), <double*>cnp.PyArray_DATA(v),
                        n, lr_t, beta1, beta2, eps)


def adam_update(param, grad, m, v, double lr_t, double beta1=0.9,
                double beta2=0.999, double eps=1e-7):
    """In-place Adam step with the book's bias correction folded into ``lr_t``.

    m += (1-beta1)(grad - m);  v += (1-beta2)(grad² - v);
    param -= lr_t · m / (√v + eps),  lr_t = lr·√(1-beta2^t)/(1-beta1^t).

    ``param``, ``m`` and ``v`` are updated in place and must be C-contiguous;
    ``grad`` may have any layout (a non-contiguous one is copied once).
    All four must share shape and dtype (float32 or float64).
    """
    check_float_array("param", param)
    check_float_array("grad", grad)
    check_float_array("m", m)
    check_float_array("v", v)
    check_same_shape("param", param, grad=grad, m=m, v=v)
    check_same_dtype("param", param, grad=grad, m=m, v=v)
    check_writeable_contiguous("param", param)
    check_writeable_contiguous("m", m)
    check_writeable_contiguous("v", v)
    if not grad.flags.c_contiguous:
        grad = np.ascontiguousarray(grad)
    _adam_dispatch(param, grad, m, v, lr_t, beta1, beta2, eps)
