"""Fast Convolution and Pooling (re-exported by :mod:`fastnn.layers`).

Subclasses of the reference layers with the book's attributes, written once
over ``self.ops`` (:class:`fastnn.backends.CompiledOps`, whose ``ConvOps``
runs the kernels of :mod:`fastnn._kernels.conv`; inputs they do not take --
W or b not a native float array of one dtype, float16, or data NumPy would
not promote to W's dtype -- run NumpyOps's reference formulas, which give
the same numbers).  Each layer owns one :class:`fastnn._kernels.pool.Pool`.

Differences from the book that do not change a number:

* the output is a C-contiguous (N, FN, OH, OW) array (the book's is a
  transposed view), and it is written into a buffer reused from step to
  step while nobody else holds it;
* ``Convolution.col`` (the im2col matrix, in the book's layout) is computed
  when first read: the kernels work one sample at a time and never build
  the whole batch's matrix; likewise ``Pooling.arg_max`` is built in the
  book's layout when read, from the kernels' NCHW indices;
* ``dx``, ``dW`` and ``db`` have W's dtype (the book's im2col makes them
  float64 whatever the input); ``dW``/``db`` are overwritten in place by the
  next backward, as in :mod:`fastnn._layers_dense`;
* ``Convolution.need_input_grad = False`` skips dx (the networks set it on
  their first layer), and ``backward`` then returns None;
* one training thread per layer: ``backward`` entered while another thread
  is inside the layer raises RuntimeError naming it (:mod:`fastnn._guard`).
"""
import numpy as np

from .reference import layers as _ref
from ._guard import exclusive, shared
from ._on_ops import OnOps, unshared
from .functions import *  # noqa: F401,F403  (the book's layers module star-imports them)
from .functions import __all__ as _functions_all
from .util import im2col, col2im

__all__ = ["Convolution", "Pooling", "im2col", "col2im"] + [
    name for name in _functions_all if name != "np"]


class _BookLayout:
    """An attribute in the book's layout, built from the kernels' own state
    on first read and cached in ``_<name>``; assigning it sets the cache."""

    def __init__(self, build, doc):
        self._build, self.__doc__ = build, doc

    def __set_name__(self, owner, name):
        self._slot = "_" + name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        value = getattr(layer, self._slot)
        if value is None:
            value = self._build(layer)
            setattr(layer, self._slot, value)
        return value

    def __set__(self, layer, value):
        setattr(layer, self._slot, value)


def _book_col(layer):
    if layer.x is None:
        return None
    fh, fw = layer.W.shape[2:]
    return im2col(layer.x, fh, fw, layer.stride, layer.pad)


def _book_arg_max(layer):
    if layer._arg is None:
        return None
    nhwc = layer._arg.transpose(0, 2, 3, 1)
    return nhwc.astype(np.intp, order="C", copy=False).reshape(-1)


class Convolution(OnOps, _ref.Convolution):
    """The book's convolution: per sample, im2col then one GEMM (see the module doc)."""

    col = _BookLayout(_book_col, "im2col of the last input, in the book's layout "
                                 "(computed on first read).")

    def __init__(self, W, b, stride=1, pad=0):
        self._col = None
        super().__init__(W, b, stride, pad)
        self.need_input_grad = True
        self._own_buffers()

    @shared
    def forward(self, x):
        self.x = self._col = None   # let the pool reuse last step's converted input
        out, self.x, self._col, self.col_W = self.ops.conv_forward(
            x, self.W, self.b, self.stride, self.pad, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        dx, self.dW, self.db = self.ops.conv_backward(
            dout, self.x, self._col, self.col_W, self.W, self.stride, self.pad,
            self.need_input_grad, self._pool, unshared(self.dW, dout, self.x),
            unshared(self.db, dout, self.x))
        return dx


class Pooling(OnOps, _ref.Pooling):
    """Max pooling straight on the NCHW input, without im2col (see the module doc).

    ``arg_max`` is the book's: one index per window in (n, oh, ow, c) order,
    ties to the first maximum in (fh, fw) order, padding read as zeros.  The
    ops keep it in NCHW order (the kernels one byte per window when
    pool_h·pool_w <= 256, an eighth of the memory traffic); the book's array
    is built on first read.
    """

    arg_max = _BookLayout(_book_arg_max, "Per window, in (n, oh, ow, c) order, the "
                                         "(fh, fw)-flat index of its maximum.")

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self._arg = None          # the ops' (N, C, OH, OW) indices
        self._arg_max = None      # the book's layout, built on first read
        super().__init__(pool_h, pool_w, stride, pad)
        self._own_buffers()

    @shared
    def forward(self, x):
        self.x = self._arg = self._arg_max = None
        out, self.x, self._arg = self.ops.maxpool_forward(
            x, self.pool_h, self.pool_w, self.stride, self.pad, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.maxpool_backward(dout, self.x, self._arg, self.pool_h, self.pool_w,
                                         self.stride, self.pad, self._pool)
