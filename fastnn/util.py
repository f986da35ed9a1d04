"""Helpers from the book's ``common/util.py``.

``im2col``/``col2im`` keep the book's signatures and results (float64 for any
input, as the book's zeros buffers are).
"""
import numpy as np

from ._checks import check_filter_size, check_stride_pad
from ._kernels import conv as _k
from .reference.util import conv_output_size  # noqa: F401

__all__ = ["np", "shuffle_dataset", "smooth_curve", "conv_output_size", "im2col", "col2im"]
def shuffle_dataset(x, t):
    """Shuffle samples and labels with one permutation from the global ``np.random``."""
    order = np.random.permutation(x.shape[0])
    return x[order], t[order]


def smooth_curve(x):
    """Smooth a loss curve for plotting: an 11-tap Kaiser window (beta=2).

    The ends are reflected before the convolution (the head without its first
    point, the tail with its last, as the book does) so the output has the
    input's length.  Inputs shorter than 11 points are returned as an array
    unchanged (there is nothing to smooth over).
    """
    x = np.asarray(x, dtype=np.float64)
    window = 11
    if x.size < window:
        return x.copy()
    padded = np.concatenate([x[window - 1:0:-1], x, x[-1:-window:-1]])
    w = np.kaiser(window, 2)
    y = np.convolve(w / w.sum(), padded, mode="valid")
    half = window // 2
    return y[half:len(y) - half]


def _windows(shape, filter_h, filter_w, stride, pad, name):
    if len(shape) != 4:
        raise ValueError("%s must be 4-D (N, C, H, W), got shape %s" % (name, tuple(shape)))
    check_stride_pad(stride, pad)
    check_filter_size("filter_h", filter_h)
    check_filter_size("filter_w", filter_w)
    n, c, h, w = shape
    out_h = (h + 2 * pad - filter_h) // stride + 1
    out_w = (w + 2 * pad - filter_w) // stride + 1
    if out_h < 0 or out_w < 0:
        raise ValueError("a %dx%d filter does not fit in %s %s padded by %d"
                         % (filter_h, filter_w, name, tuple(shape), pad))
    return out_h, out_w


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """(N, C, H, W) -> (N·out_h·out_w, C·filter_h·filter_w), rows (n, oh, ow),
    columns (c, fh, fw), zero padding; float64, as the book's."""
    x = np.ascontiguousarray(input_data, dtype=np.float64)
    out_h, out_w = _windows(x.shape, filter_h, filter_w, stride, pad, "input_data")
    n, c = x.shape[:2]
    col = np.empty((n * out_h * out_w, c * filter_h * filter_w))
    _k.im2col_into(x, filter_h, filter_w, stride, pad, out_h, out_w, col)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of :func:`im2col`: (N, C, H, W) with overlapping windows added up."""
    input_shape = tuple(int(s) for s in input_shape)
    out_h, out_w = _windows(input_shape, filter_h, filter_w, stride, pad, "input_shape")
    n, c, h, w = input_shape
    col = np.ascontiguousarray(col, dtype=np.float64)
    rows, cols = n * out_h * out_w, c * filter_h * filter_w
    if col.size != rows * cols:
        raise ValueError("col has %d entries but input_shape %s with a %dx%d filter needs "
                         "(%d, %d)" % (col.size, input_shape, filter_h, filter_w, rows, cols))
    img = np.empty(input_shape)
    _k.col2im_into(col.reshape(rows, cols), filter_h, filter_w, stride, pad, out_h, out_w, img)
    return img
