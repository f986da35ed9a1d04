# cython: language_level=3
"""Batch normalization's ``BatchNormOps`` (the overrides of NumpyOps mixed
into :class:`fastnn.backends.CompiledOps`), on the drivers of
``batchnorm.pyx`` (kernels, formulas and threading are described there;
the checked public functions, on the same drivers, are in :mod:`fastnn.ops`).
"""
import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (is_float_array, is_vector, may_overlap, Pool, pool_take,
                                      same_shape)
from fastnn._kernels.batchnorm cimport _train_into, _infer_into, _backward_into

cnp.import_array()


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
        cdef cnp.ndarray out = pool_take(pool, 2, dims, t)
        cdef cnp.ndarray xc = pool_take(pool, 2, dims, t)
        cdef cnp.ndarray xn = pool_take(pool, 2, dims, t)
        cdef cnp.ndarray std = pool_take(pool, 1, &dims[1], t)
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
        cdef cnp.ndarray out = pool_take(pool, 2, cnp.PyArray_DIMS(<cnp.ndarray>x), t)
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
        cdef cnp.ndarray dx = pool_take(pool, 2, cnp.PyArray_DIMS(<cnp.ndarray>xn), t)
        dgamma = _grad_buffer(dgamma, d, t)
        dbeta = _grad_buffer(dbeta, d, t)
        _backward_into(_c(dout), _c(xn), _c(std), _c(gamma), dx, dgamma, dbeta)
        return dx, dgamma, dbeta
