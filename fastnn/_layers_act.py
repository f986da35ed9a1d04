"""Fast Relu, Sigmoid and SoftmaxWithLoss (re-exported by :mod:`fastnn.layers`).

Subclasses of the reference layers with the same attributes (``Relu.mask``
is the bool array ``x <= 0``; ``Sigmoid.out``; ``SoftmaxWithLoss.loss``,
``.y``, ``.t``, ``.label_smoothing``).  Inputs the kernels do not take
(non-float or mixed dtypes, ndarray subclasses, one-hot labels of another
dtype than the scores, ...) go to the reference implementation.

Buffers.  Each layer writes its outputs (forward's result, ``mask``, ``y``,
backward's dx) into arrays it keeps from one call to the next, so a
training step allocates nothing here.  A buffer is reused only while
nothing outside the layer references it (checked with the reference count,
which counts views and the next layer holding it as its input: ``Affine``
keeps its input as ``self.x`` for its backward pass); otherwise the layer
takes a fresh array.  So an array a layer returned, or its ``mask``/``out``/
``y`` that you hold, never changes under you -- the layer's own attribute
is simply rebound on the next call, as in the reference.  Two buffers per
output suffice in a training loop: the one returned on the last step may
still be held by the next layer, the one from the step before is free.
(The pool lives in :mod:`fastnn._buffers`, shared with :mod:`fastnn._layers_dense`.)

Unlike the reference, ``SoftmaxWithLoss`` raises ``ValueError`` for class
labels outside ``[0, C)`` (the reference wraps negative labels around
silently and fails with an IndexError on too large ones).
"""

import numpy as np

from .reference import layers as _ref
from ._guard import exclusive, exclusive_when_training, shared
from ._buffers import take as _take
from ._kernels import activations as _k
from ._kernels.pool import Pool
from .backends import get_ops

__all__ = ["Relu", "Sigmoid", "SoftmaxWithLoss"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_BOOL = np.dtype(np.bool_)


def _is_float(a):
    """An exact ndarray of native float32/float64 (what the kernels take)."""
    return type(a) is np.ndarray and (a.dtype == _F64 or a.dtype == _F32)


class Relu(_ref.Relu):
    """ReLU; ``mask`` is the bool array ``x <= 0`` (NaN passes through)."""

    def __init__(self):
        super().__init__()
        self.ops = get_ops()
        self._pool = Pool()

    @shared
    def forward(self, x):
        self.mask = None  # drop our own hold so last step's mask can be reused
        out, self.mask = self.ops.relu_forward(x, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.relu_backward(dout, self.mask, self._pool)


class Sigmoid(_ref.Sigmoid):
    """Sigmoid; ``out`` is the forward output, used by ``backward``."""

    def __init__(self):
        super().__init__()
        self.ops = get_ops()
        self._pool = Pool()

    @shared
    def forward(self, x):
        self.out = None
        self.out = self.ops.sigmoid_forward(x, self._pool)
        return self.out

    @exclusive
    def backward(self, dout):
        return self.ops.sigmoid_backward(dout, self.out, self._pool)


def _kernel_takes(x, t):
    """Scores (N, C) and labels the softmax kernels take with the reference's
    meaning (C = 1 is left out: there the reference reads (N,) labels as
    one-hot rows)."""
    if not (_is_float(x) and x.ndim == 2 and x.shape[0] > 0 and x.shape[1] > 1
            and type(t) is np.ndarray):
        return False
    if t.ndim == 1:
        return t.dtype.kind in "iu" and t.shape[0] == x.shape[0]
    return t.ndim == 2 and t.shape == x.shape and t.dtype == x.dtype


class SoftmaxWithLoss(_ref.SoftmaxWithLoss):
    """Softmax and mean cross-entropy (optionally label-smoothed); ``backward``
    ignores ``dout`` as the book's does."""

    def __init__(self, label_smoothing=0.0):
        super().__init__(label_smoothing)
        self._y_pool = []
        self._dx_pool = []

    def _kernel_ok(self, x, t):
        # A NumPy float64 smoothing factor is not "weak": the reference then
        # computes float32 scores' loss in float64, which the kernel does not.
        return _kernel_takes(x, t) and (x.dtype == _F64
                                        or type(self.label_smoothing) in (int, float, bool))

    @shared
    def forward(self, x, t):
        if not self._kernel_ok(x, t):
            return super().forward(x, t)
        self.t = t
        self.y = None
        y = _take(self._y_pool, x.shape, x.dtype)
        self.loss, _ = _k.softmax_cross_entropy_forward(x, t, self.label_smoothing, y)
        self.y = y
        return self.loss

    @exclusive
    def backward(self, dout=1):
        y = self.y
        if not self._kernel_ok(y, self.t):
            return super().backward(dout)
        dx = _take(self._dx_pool, y.shape, y.dtype)
        return _k.softmax_cross_entropy_backward(y, self.t, self.label_smoothing, dx)
