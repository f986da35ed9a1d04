"""Fast Relu, Sigmoid and SoftmaxWithLoss (re-exported by :mod:`fastnn.layers`).

Subclasses of the reference layers with the same attributes (``Relu.mask``
is the bool array ``x <= 0``; ``Sigmoid.out``; ``SoftmaxWithLoss.loss``,
``.y``, ``.t``, ``.label_smoothing``), each written once over ``self.ops``
(:class:`fastnn.backends.CompiledOps`): the ops object runs the kernels on
the inputs they take and NumPy's reference formulas on the rest (non-float
or mixed dtypes, ndarray subclasses, one-hot labels of another dtype than
the scores, ...).

Buffers.  Each layer takes its outputs (forward's result, ``mask``, ``y``,
backward's dx) from a :class:`fastnn._kernels.pool.Pool`, its own or the one
its network gives all its layers, so a training step allocates nothing
here, and an array it returned is reused only once nothing outside the pool
holds it (see the pool's docstring).

Unlike the reference, ``SoftmaxWithLoss`` raises ``ValueError`` for class
labels outside ``[0, C)`` (the reference wraps negative labels around
silently and fails with an IndexError on too large ones).
"""

from .reference import layers as _ref
from ._guard import exclusive, shared
from ._on_ops import OnOps

__all__ = ["Relu", "Sigmoid", "SoftmaxWithLoss"]

class Relu(OnOps, _ref.Relu):
    """ReLU; ``mask`` is the bool array ``x <= 0`` (NaN passes through)."""

    def __init__(self):
        super().__init__()
        self._own_buffers()

    @shared
    def forward(self, x):
        self.mask = None  # drop our own hold so last step's mask can be reused
        out, self.mask = self.ops.relu_forward(x, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.relu_backward(dout, self.mask, self._pool)


class Sigmoid(OnOps, _ref.Sigmoid):
    """Sigmoid; ``out`` is the forward output, used by ``backward``."""

    def __init__(self):
        super().__init__()
        self._own_buffers()

    @shared
    def forward(self, x):
        self.out = None
        self.out = self.ops.sigmoid_forward(x, self._pool)
        return self.out

    @exclusive
    def backward(self, dout):
        return self.ops.sigmoid_backward(dout, self.out, self._pool)


class SoftmaxWithLoss(OnOps, _ref.SoftmaxWithLoss):
    """Softmax and mean cross-entropy (optionally label-smoothed); ``backward``
    ignores ``dout`` as the book's does."""

    def __init__(self, label_smoothing=0.0):
        super().__init__(label_smoothing)
        self._own_buffers()

    @shared
    def forward(self, x, t):
        self.t = t
        self.y = None
        self.loss, self.y = self.ops.softmax_cross_entropy_forward(
            x, t, self.label_smoothing, self._pool)
        return self.loss

    @exclusive
    def backward(self, dout=1):
        return self.ops.softmax_cross_entropy_backward(self.y, self.t, self.label_smoothing,
                                                       self._pool)
