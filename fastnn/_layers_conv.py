"""Fast Convolution and Pooling (re-exported by :mod:`fastnn.layers`).

Subclasses of the reference layers with the book's attributes, running the
kernels of :mod:`fastnn._kernels.conv`.  The Python side only validates,
takes buffers and calls one kernel function; inputs the kernels do not
take (W or b not a native float array of one dtype, integer or
other-endian data that NumPy would not promote to W's dtype) run the
reference code, which gives the same numbers.

Differences from the book that do not change a number:

* the output is a C-contiguous (N, FN, OH, OW) array (the book's is a
  transposed view), and it is written into a buffer reused from step to
  step while nobody else holds it (see :class:`fastnn._kernels.pool.Pool`);
* ``Convolution.col`` (the im2col matrix, in the book's layout) is computed
  when first read: the kernels work one sample at a time and never build
  the whole batch's matrix;
* ``dx``, ``dW`` and ``db`` have W's dtype (the book's im2col makes them
  float64 whatever the input); ``dW``/``db`` are overwritten in place by the
  next backward, as in :mod:`fastnn._layers_dense`;
* ``Convolution.need_input_grad = False`` skips dx (the networks set it on
  their first layer), and ``backward`` then returns None.
"""
import numpy as np

from .reference import layers as _ref
from ._kernels.pool import Pool
from ._checks import check_window
from ._kernels import conv as _k
from .functions import *  # noqa: F401,F403  (the book's layers module star-imports them)
from .functions import __all__ as _functions_all
from .util import im2col, col2im

__all__ = ["Convolution", "Pooling", "im2col", "col2im"] + [
    name for name in _functions_all if name != "np"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_kernel_input(a, dtype, pool):
    """``a`` as a C-contiguous native array of ``dtype`` (a copy into a pooled
    buffer when it is not one already), or None when NumPy would not
    promote ``a``'s dtype to ``dtype`` (the reference code runs instead)."""
    if type(a) is not np.ndarray:
        return None
    if a.dtype == dtype and a.flags.c_contiguous:
        return a
    if a.dtype.kind not in "biuf" or np.result_type(a.dtype, dtype) != dtype:
        return None
    buf = pool.get("buf", a.shape, dtype)
    np.copyto(buf, a, casting="unsafe")
    return buf


def _grad_buffer(buf, shape, dtype):
    """``buf`` if it can be overwritten as a parameter gradient, else a new array."""
    if (type(buf) is np.ndarray and buf.shape == shape and buf.dtype == dtype
            and buf.flags.c_contiguous and buf.flags.writeable):
        return buf
    return np.empty(shape, dtype=dtype)


def _scratch(layer, shape, dtype):
    buf = layer._scratch_buf
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = layer._scratch_buf = np.empty(shape, dtype=dtype)
    return buf


class Convolution(_ref.Convolution):
    """The book's convolution: per sample, im2col then one GEMM (see the module doc)."""

    def __init__(self, W, b, stride=1, pad=0):
        self._col = None
        super().__init__(W, b, stride, pad)
        self.need_input_grad = True
        self._fast = False
        self._W2 = None
        self._scratch_buf = None
        self._out_pool = Pool()
        self._dx_pool = Pool()
        self._x_pool = Pool()
        self._dout_pool = Pool()

    @property
    def col(self):
        """im2col of the last input, in the book's layout (computed on first read)."""
        if self._col is None and self._fast and self.x is not None:
            fh, fw = self.W.shape[2:]
            self._col = im2col(self.x, fh, fw, self.stride, self.pad)
        return self._col

    @col.setter
    def col(self, value):
        self._col = value

    def forward(self, x):
        W, b = self.W, self.b
        self._fast = False
        if not (type(W) is np.ndarray and W.ndim == 4 and W.dtype in _FLOATS
                and type(b) is np.ndarray and b.dtype == W.dtype
                and b.shape == (W.shape[0],)):
            return super().forward(x)
        fn, c, fh, fw = W.shape
        out_h, out_w = check_window(x, fh, fw, self.stride, self.pad, channels=c)
        self.x = None       # let go of last step's converted input so its buffer is reused
        xk = _as_kernel_input(x, W.dtype, self._x_pool)
        if xk is None:
            return super().forward(x)
        W2 = W.reshape(fn, -1) if W.flags.c_contiguous else np.ascontiguousarray(W).reshape(fn, -1)
        b = np.ascontiguousarray(b)
        out = self._out_pool.get("buf", (x.shape[0], fn, out_h, out_w), W.dtype)
        _k.conv_forward(xk, W2, b, fh, fw, self.stride, self.pad, out,
                        _scratch(self, (W2.shape[1], out_h * out_w), W.dtype))
        self.x = xk
        self._W2 = W2
        self.col_W = W2.T
        self._col = None
        self._fast = True
        return out

    def backward(self, dout):
        if not self._fast:
            return super().backward(dout)
        x, W2 = self.x, self._W2
        fn, c, fh, fw = self.W.shape
        shape = (x.shape[0], fn) + self._out_hw()
        if getattr(dout, "shape", None) != shape:
            raise ValueError("dout has shape %s but the forward output had shape %s"
                             % (getattr(dout, "shape", None), shape))
        dk = _as_kernel_input(dout, W2.dtype, self._dout_pool)
        if dk is None:
            return super().backward(dout)
        self.dW = dW = _grad_buffer(self.dW, (fn, c, fh, fw), W2.dtype)
        self.db = db = _grad_buffer(self.db, (fn,), W2.dtype)
        dx = self._dx_pool.get("buf", x.shape, W2.dtype) if self.need_input_grad else None
        _k.conv_backward(x, W2, dk, fh, fw, self.stride, self.pad, dW.reshape(fn, -1), db,
                         dx, _scratch(self, (W2.shape[1], shape[2] * shape[3]), W2.dtype))
        return dx

    def _out_hw(self):
        fh, fw = self.W.shape[2:]
        h, w = self.x.shape[2:]
        s, p = self.stride, self.pad
        return (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1


class Pooling(_ref.Pooling):
    """Max pooling straight on the NCHW input, without im2col (see the module doc).

    ``arg_max`` is the book's: one index per window in (n, oh, ow, c) order,
    ties to the first maximum in (fh, fw) order, padding read as zeros.  The
    kernel keeps it in NCHW order, one byte per window when pool_h·pool_w
    <= 256 (an eighth of the memory traffic); the book's array is built on
    first read.
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self._arg = None          # the kernel's NCHW indices
        self._arg_shape = None    # (N, C, OH, OW)
        self._arg_max = None      # the book's layout, built on first read
        super().__init__(pool_h, pool_w, stride, pad)
        self._fast = False
        self._out_pool = Pool()
        self._arg_pool = Pool()
        self._dx_pool = Pool()
        self._x_pool = Pool()
        self._dout_pool = Pool()

    @property
    def arg_max(self):
        """Per window, in (n, oh, ow, c) order, the (fh, fw)-flat index of its maximum."""
        if self._arg_max is None and self._fast and self._arg is not None:
            n, c, oh, ow = self._arg_shape
            nchw = self._arg.reshape(n, c, oh, ow)
            self._arg_max = nchw.transpose(0, 2, 3, 1).reshape(-1).astype(np.intp)
        return self._arg_max

    @arg_max.setter
    def arg_max(self, value):
        self._arg_max = value

    def forward(self, x):
        self._fast = False
        out_h, out_w = check_window(x, self.pool_h, self.pool_w, self.stride, self.pad,
                                    pooling=True)
        if not (type(x) is np.ndarray and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8)):
            return super().forward(x)
        self.x = None
        self._arg = None
        self._arg_max = None
        xk = _as_kernel_input(x, x.dtype.newbyteorder("="), self._x_pool)
        n, c = x.shape[:2]
        out = self._out_pool.get("buf", (n, c, out_h, out_w), xk.dtype)
        index = np.uint8 if self.pool_h * self.pool_w <= 256 else np.intp
        arg = self._arg_pool.get("buf", (n * c * out_h * out_w,), index)
        _k.pool_forward(xk, self.pool_h, self.pool_w, self.stride, self.pad, out, arg)
        self.x = xk
        self._arg = arg
        self._arg_shape = (n, c, out_h, out_w)
        self._fast = True
        return out

    def backward(self, dout):
        if not self._fast:
            return super().backward(dout)
        x = self.x
        if getattr(dout, "shape", None) != self._arg_shape:
            raise ValueError("dout has shape %s but the forward output had shape %s"
                             % (getattr(dout, "shape", None), self._arg_shape))
        dk = _as_kernel_input(dout, x.dtype, self._dout_pool)
        if dk is None:
            return super().backward(dout)
        dx = self._dx_pool.get("buf", x.shape, x.dtype)
        _k.pool_backward(dk, self._arg, self.pool_h, self.pool_w, self.stride, self.pad, dx)
        return dx
