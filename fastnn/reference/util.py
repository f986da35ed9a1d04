"""The book's image-to-matrix helpers (``common/util.py``) in plain NumPy.

``im2col`` unrolls every filter-sized window of a (N, C, H, W) batch into one
row; ``col2im`` is its adjoint (overlapping windows are added up).  The
convolution and pooling layers of the reference are built on these two.
"""
import numpy as np

__all__ = ["conv_output_size", "im2col", "col2im"]


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """The book's formula, with true division: a float, not floored."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def _out_len(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """(N, C, H, W) -> (N·out_h·out_w, C·filter_h·filter_w).

    Rows are ordered (n, oh, ow), columns (c, fh, fw); the input is padded
    with zeros by ``pad`` on each side of H and W first.
    """
    n, c, h, w = input_data.shape
    oh = _out_len(h, filter_h, stride, pad)
    ow = _out_len(w, filter_w, stride, pad)
    padded = np.pad(input_data, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    # windows[n, c, fh, fw, i, j] = padded[n, c, fh + i*stride, fw + j*stride]
    windows = np.zeros((n, c, filter_h, filter_w, oh, ow))
    for fh in range(filter_h):
        rows = slice(fh, fh + stride * oh, stride)
        for fw in range(filter_w):
            windows[:, :, fh, fw] = padded[:, :, rows, fw:fw + stride * ow:stride]
    return windows.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of :func:`im2col`: add each row's window back into an image.

    ``input_shape`` is (N, C, H, W); where windows overlap their entries are
    summed (in (fh, fw) order), and the padding is cropped off at the end.
    """
    n, c, h, w = input_shape
    oh = _out_len(h, filter_h, stride, pad)
    ow = _out_len(w, filter_w, stride, pad)
    windows = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    # stride - 1 spare rows/columns, as in the book, so every slice fits.
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for fh in range(filter_h):
        rows = slice(fh, fh + stride * oh, stride)
        for fw in range(filter_w):
            img[:, :, rows, fw:fw + stride * ow:stride] += windows[:, :, fh, fw]
    return img[:, :, pad:h + pad, pad:w + pad]
