"""Argument checks run before entering a compiled kernel.

Kernels are built with bounds checks off, so everything they rely on
(type, dtype, rank, shape, memory layout) is verified here, once, with an
error that names the argument and what was expected.
"""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(name, a, ndim=None):
    """``a`` must be an ndarray of float32 or float64 (of rank ``ndim`` if given)."""
    if not isinstance(a, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError("%s must have dtype float32 or float64, got %s" % (name, a.dtype))
    if ndim is not None and a.ndim != ndim:
        raise ValueError("%s must be %d-dimensional, got shape %s" % (name, ndim, a.shape))
    return a


def check_same_dtype(ref_name, ref, **others):
    """Every array in ``others`` must share ``ref``'s dtype (no silent casts in a kernel)."""
    for name, a in others.items():
        if a.dtype != ref.dtype:
            raise TypeError("%s has dtype %s but %s has dtype %s; they must match"
                            % (name, a.dtype, ref_name, ref.dtype))


def check_same_shape(ref_name, ref, **others):
    for name, a in others.items():
        if a.shape != ref.shape:
            raise ValueError("%s has shape %s but %s has shape %s; they must match"
                             % (name, a.shape, ref_name, ref.shape))


def check_writeable_contiguous(name, a):
    """Arrays updated in place must be C-contiguous and writeable."""
    if not a.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous to be updated in place "
                         "(use np.ascontiguousarray and keep the result)" % name)
    if not a.flags.writeable:
        raise ValueError("%s is read-only; it is updated in place" % name)


def check_label_range(name, t, n_classes):
    """Integer class labels must lie in [0, n_classes)."""
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        raise ValueError("%s must hold class indices in [0, %d), got values in [%d, %d]"
                         % (name, n_classes, t.min(), t.max()))


def check_output(name, out, shape, dtype, inputs=None, allow_same=False):
    """An output buffer: a new array when ``out`` is None, else ``out`` checked
    as a writeable C-contiguous ndarray of ``shape``/``dtype`` sharing no memory
    with any array in ``inputs`` ({name: array or None}); with ``allow_same``,
    ``out`` may be one of the inputs itself (an elementwise kernel in place)."""
    dtype = np.dtype(dtype)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(out).__name__))
    if out.dtype != dtype:
        raise TypeError("%s has dtype %s but must have dtype %s" % (name, out.dtype, dtype))
    if out.shape != tuple(shape):
        raise ValueError("%s has shape %s but must have shape %s" % (name, out.shape, tuple(shape)))
    if not out.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous" % name)
    if not out.flags.writeable:
        raise ValueError("%s is read-only" % name)
    for other_name, other in (inputs or {}).items():
        if other is None or (allow_same and out is other):
            continue
        if np.may_share_memory(out, other):
            raise ValueError("%s shares memory with %s; it must be a separate array"
                             % (name, other_name))
    return out
