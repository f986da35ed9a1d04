"""Argument checks run before entering a compiled kernel.

Kernels are built with bounds checks off, so everything they rely on
(type, dtype, rank, shape, memory layout) is verified here, once, with an
error that names the argument and what was expected.
"""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def native(a):
    """``a`` in the machine's byte order: ``a`` itself, or a converted copy of
    a byte-swapped array (a kernel reads raw bytes, never decoded values).
    Only for arrays a kernel reads; what it writes must already be native
    (``check_float_array`` and ``check_output`` refuse the others)."""
    if isinstance(a, np.ndarray) and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def check_float_array(name, a, ndim=None):
    """``a`` must be an ndarray of float32 or float64 in native byte order
    (of rank ``ndim`` if given)."""
    if not isinstance(a, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
    if not a.dtype.isnative:
        raise TypeError("%s has non-native byte order (dtype %s); it is written in place, "
                        "so convert it first: %s.astype(%s.dtype.newbyteorder('='))"
                        % (name, a.dtype.str, name, name))
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
    if not out.dtype.isnative:
        raise TypeError("%s has non-native byte order (dtype %s); outputs must be in "
                        "native byte order" % (name, out.dtype.str))
    if out.dtype != dtype:
        raise TypeError("%s has dtype %s but must have dtype %s" % (name, out.dtype, dtype))
    if out.shape != tuple(shape):
        raise ValueError("%s has shape %s but must have shape %s" % (name, out.shape, tuple(shape)))
    if not out.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous" % name)
    if not out.flags.writeable:
        raise ValueError("%s is read-only" % name)
    check_no_overlap({name: out}, inputs,
                     same_ok=[(name, k) for k in inputs or ()] if allow_same else ())
    return out


def as_float(value, must):
    """``float(value)``, or a TypeError saying what it ``must`` be (a phrase
    naming the argument: "dropout_ratio must be a number in [0, 1)")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError("%s, got %r" % (must, value)) from None


def check_dropout_ratio(dropout_ratio):
    """``dropout_ratio`` as a float in [0, 1)."""
    ratio = as_float(dropout_ratio, "dropout_ratio must be a number in [0, 1)")
    if not 0.0 <= ratio < 1.0:
        raise ValueError("dropout_ratio must be in [0, 1), got %r" % (dropout_ratio,))
    return ratio


def check_dropout_mode(mode):
    """True for ``mode='fast'``, False for ``'exact'``; a ValueError otherwise."""
    if mode not in ("exact", "fast"):
        raise ValueError("mode must be 'exact' (the book's random stream) or 'fast', got %r"
                         % (mode,))
    return mode == "fast"


_STEP_MAX = 2 ** 31 - 1      # past it no window fits in memory, and C's sizes overflow


def _check_step(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be an int, got %r" % (name, value))
    if value < minimum:
        raise ValueError("%s must be >= %d, got %r" % (name, minimum, value))
    if value > _STEP_MAX:
        raise ValueError("%s must be at most %d, got %r" % (name, _STEP_MAX, value))


def check_stride_pad(stride, pad):
    """stride an int >= 1, pad an int >= 0 (what im2col can slice with)."""
    _check_step("stride", stride, 1)
    _check_step("pad", pad, 0)


def check_filter_size(name, size):
    """A filter size an int >= 0 (the book's im2col takes 0: no columns)."""
    _check_step(name, size, 0)


def check_window(x, filter_h, filter_w, stride, pad, *, channels=None, pooling=False):
    """Validate a convolution/pooling window over the batch ``x`` and return
    its floored output size ``(out_h, out_w)``, computed as the book's layer
    does: ``1 + int((H + 2·pad - FH) / stride)`` for a convolution and
    ``int(1 + (H - pool_h) / stride)`` for pooling (whose pad only reaches
    im2col).  Sizes that do not tile the input are floored, as in the book;
    only what the book cannot run raises: ``x`` not 4-D, stride < 1,
    pad < 0, a channel count other than ``channels`` (W's), or an output
    size below 1 (or, for pooling, a pad that changes the window count, or a
    window size that is not an int >= 1)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError("x must be a 4-D batch (N, C, H, W), got shape %s"
                         % (tuple(shape) if shape is not None else type(x).__name__,))
    check_stride_pad(stride, pad)
    if pooling:                       # the kernels read a window's first entry
        _check_step("pool_h", filter_h, 1)
        _check_step("pool_w", filter_w, 1)
    n, c, h, w = shape
    if channels is not None and c != channels:
        raise ValueError("x has %d channels (shape %s) but W has %d (W.shape[1]); "
                         "they must match" % (c, tuple(shape), channels))
    what = "pool_h/pool_w" if pooling else "the filter (W.shape[2:])"
    sizes = []
    for axis, size, filt in (("height", h, filter_h), ("width", w, filter_w)):
        if pooling:
            out = int(1 + (size - filt) / stride)
            im2col_out = (size + 2 * pad - filt) // stride + 1
            if out >= 1 and im2col_out != out:
                raise ValueError("pad=%d changes the number of pooling windows along the %s "
                                 "(%d instead of %d); the book's Pooling cannot use it"
                                 % (pad, axis, im2col_out, out))
        else:
            out = 1 + int((size + 2 * pad - filt) / stride)
            if size + 2 * pad - filt < 0:
                out = 0
        if out < 1:
            raise ValueError("%s of size %d does not fit in the input %s %d with pad=%d "
                             "(output size %d < 1)" % (what, filt, axis, size, pad, out))
        sizes.append(out)
    return sizes[0], sizes[1]

def _identical(a, b):
    """The same elements in the same order (an elementwise kernel may then
    write ``a`` while it reads ``b``)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def check_no_overlap(written, read=None, same_ok=()):
    """Every array a kernel writes (``written``: {name: array}, outputs and
    in-place arguments) must share no memory with any array it reads
    (``read``: {name: array or None}) nor with another written array.
    ``same_ok`` lists (written name, read name) pairs where the written
    array may *be* the read one exactly (same data, shape and strides: an
    elementwise kernel in place).  Raises
    ValueError naming both arrays."""
    read = read or {}
    names = list(written)
    for i, name in enumerate(names):
        out = written[name]
        if out is None:
            continue
        for other_name in names[i + 1:]:
            other = written[other_name]
            if other is not None and np.may_share_memory(out, other):
                raise ValueError("%s and %s share memory; each is written by the kernel "
                                 "and must be a separate array" % (name, other_name))
        for other_name, other in read.items():
            if other is None or other_name == name:
                continue
            same = (name, other_name) in same_ok
            if same and _identical(out, other):
                continue
            if np.may_share_memory(out, other):
                raise ValueError("%s shares memory with %s; it must be a separate array%s"
                                 % (name, other_name,
                                    " or %s itself" % other_name if same else ""))
