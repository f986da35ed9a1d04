# cython: language_level=3
"""Batch normalization's ``BatchNormOps`` (the overrides of NumpyOps mixed
into :class:`fastnn.backends.CompiledOps`) and the checked ``fastnn.ops``
functions, on the drivers of ``batchnorm.pyx`` (kernels, formulas and
threading are described there).
"""
import numpy as np
cimport numpy as cnp
from fastnn._kernels._shared cimport (is_float_array, is_vector, may_overlap, Pool, pool_take,
                                      same_shape)
from fastnn._kernels.batchnorm cimport _train_into, _infer_into, _backward_into

from fastnn._checks import (check_float_array, check_no_overlap, check_output,
                            check_same_dtype, native)

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
