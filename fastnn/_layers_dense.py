"""Fast Affine, BatchNormalization and Dropout (re-exported by :mod:`fastnn.layers`).

Each class subclasses its twin in :mod:`fastnn.reference.layers`, keeps its
attributes and results, and is written once over ``self.ops``
(:class:`fastnn.backends.CompiledOps`): the kernels run on the inputs they
take, NumPy's reference formulas on the rest (non-float dtypes, parameters
of another dtype or shape, ...), with the same numbers.

Buffers (a :class:`fastnn._kernels.pool.Pool`: the layer's own, or the one
its network shares among all its layers).  A layer writes its outputs
(``forward``'s result, ``backward``'s dx, batch norm's ``xc``/``xn``,
dropout's ``mask``) into arrays kept from one call to the next, so a
training step allocates nothing.  A buffer is reused only while nothing
outside the pool references it (checked with the reference count, which
counts views, memoryviews and the next layer holding it as its input);
otherwise the pool makes a fresh array, so an array a layer returned never
changes under its holder.  The parameter gradients
(``dW``, ``db``, ``dgamma``, ``dbeta``) are different: like PyTorch's
``.grad`` they are overwritten in place by the next ``backward`` — copy them
to keep them.
"""

import numpy as np

from .reference import layers as _ref
from ._guard import exclusive, exclusive_when_training, shared
from ._kernels import dropout as _drop
from ._on_ops import OnOps, unshared

__all__ = ["Affine", "BatchNormalization", "Dropout"]


# -- Affine --------------------------------------------------------------------

class Affine(OnOps, _ref.Affine):
    """out = x·W + b on BLAS GEMM; input of any rank is flattened to (N, -1).

    The result dtype is NumPy's promotion of x and W, as in the reference:
    float32 images fed to a float64 layer are converted once into a
    reusable float64 buffer (which is then ``self.x``).  Combinations where
    the promotion is not W's dtype (float64 x into a float32 layer, b of
    another dtype, ...) run the reference code.

    Extras over the book's layer, both plain attributes:

    * ``need_input_grad`` (default True): when False, ``backward`` skips the
      dx GEMM and returns None (the network sets it on its first layer,
      whose input gradient nobody uses).
    * ``weight_decay`` λ (default 0): when nonzero, ``backward`` stores
      ``dW = xᵀ·dout + λ·W``, the gradient including the L2 term ½λΣW²,
      computed inside the same GEMM (the network sets it from its
      ``weight_decay_lambda``).
    """

    def __init__(self, W, b):
        super().__init__(W, b)
        self._own_buffers()
        self.need_input_grad = True
        self.weight_decay = 0.0
        self._x_dtype = None   # x's own dtype (self.x may be it converted to W's)

    @shared
    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = None   # let the pool reuse last step's converted input
        out, self.x, self._x_dtype = self.ops.affine_forward(x, self.W, self.b, self._pool)
        return out

    @exclusive
    def backward(self, dout):
        dx, self.dW, self.db = self.ops.affine_backward(
            dout, self.x, self.W, self._x_dtype, self.need_input_grad, self.weight_decay,
            self._pool, unshared(self.dW, dout, self.x), unshared(self.db, dout, self.x))
        if dx is None or dx.shape == self.original_x_shape:
            return dx
        return dx.reshape(*self.original_x_shape)


class BatchNormalization(OnOps, _ref.BatchNormalization):
    """Batch normalization, the book's version, on two-pass kernels.

    Same attributes and numbers as the reference (to rounding): ``xc``,
    ``xn``, ``std``, ``batch_size`` after a training forward, ``dgamma``,
    ``dbeta`` after backward; 4-D input is flattened to (N, C·H·W).  The
    running statistics are updated in place (the reference rebinds them to
    new arrays), so arrays passed as ``running_mean``/``running_var`` see the
    updates; ones the kernel cannot update in place (another dtype, read-only,
    not contiguous) run the reference code.  Input of another dtype than
    gamma/beta also runs the reference code.
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        super().__init__(gamma, beta, momentum, running_mean, running_var)
        self._own_buffers()

    @exclusive_when_training
    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x2.shape[1], dtype=x2.dtype)
            self.running_var = np.zeros(x2.shape[1], dtype=x2.dtype)
        if train_flg:
            self.xc = self.xn = self.std = None   # let the pool reuse last step's buffers
            (out, self.xc, self.xn, self.std, self.running_mean,
             self.running_var) = self.ops.batchnorm_forward_train(
                x2, self.gamma, self.beta, self.running_mean, self.running_var,
                self.momentum, self.eps, self._pool)
            self.batch_size = x2.shape[0]
        else:
            out = self.ops.batchnorm_forward_infer(x2, self.gamma, self.beta, self.running_mean,
                                                   self.running_var, self.eps, self._pool)
        return out if x2 is x else out.reshape(*self.input_shape)

    @exclusive
    def backward(self, dout):
        d2 = dout if dout.ndim == 2 else dout.reshape(dout.shape[0], -1)
        dx, self.dgamma, self.dbeta = self.ops.batchnorm_backward(
            d2, self.xn, self.xc, self.std, self.gamma, self.batch_size, self._pool,
            self.dgamma, self.dbeta)
        return dx if dx.shape == self.input_shape else dx.reshape(*self.input_shape)


def _fast_generator(seed):
    """The generator of a fast-mode Dropout: ``seed`` may be None (fresh
    entropy), an int or SeedSequence (a new MT19937, which the kernel draws
    from directly), or a Generator/BitGenerator to use as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.BitGenerator):
        return np.random.Generator(seed)
    return np.random.Generator(np.random.MT19937(seed))


class Dropout(OnOps, _ref.Dropout):
    """Non-inverted dropout (the book's): ``x·mask`` in training,
    ``x·(1 - dropout_ratio)`` in inference, mask drawn and applied in one pass.

    ``mode='exact'`` (default) draws from the global ``np.random`` exactly as
    the book's ``np.random.rand(*x.shape) > dropout_ratio``: after
    ``np.random.seed(s)`` the masks are the book's, bit for bit, and the
    global stream is left where the book leaves it.

    ``mode='fast'`` trades that stream for speed: its own generator
    (``self.rng``, from ``seed``: None, an int, a SeedSequence, or a
    Generator/BitGenerator to use), one 32-bit draw per element compared
    with ``floor(dropout_ratio·2³²)``.  Reproducible for a given seed; keeps
    a fraction 1 - dropout_ratio of the units (to 2⁻³²), but not the same
    units as the book's stream.

    ``mask`` is a bool array (one byte per element), reused between steps
    unless something else still holds it.

    ``inverted=True``: inverted dropout (the course's and most frameworks'):
    training divides the kept units by ``keep_prob = 1 - dropout_ratio``
    (same draws, same mask), inference returns x unchanged; equal to
    :class:`fastnn.reference.layers.Dropout` with ``inverted=True``.
    """

    def __init__(self, dropout_ratio=0.5, mode="exact", seed=None, *, inverted=False):
        _drop._check_ratio(dropout_ratio)
        fast = _drop._check_mode(mode)
        if not fast and seed is not None:
            raise ValueError("seed is only used with mode='fast'; mode='exact' draws from "
                             "the global np.random (seed it with np.random.seed)")
        super().__init__(dropout_ratio, inverted=inverted)
        self._own_buffers()
        self.mode = mode
        self.rng = _fast_generator(seed) if fast else None

    @exclusive_when_training
    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = None   # let go of last step's mask so its buffer can be reused
        out, mask = self.ops.dropout_forward(x, self.dropout_ratio, train_flg, self.mode,
                                             self.rng, self.inverted, self._pool)
        if train_flg:
            self.mask = mask
        return out

    @exclusive
    def backward(self, dout):
        return self.ops.dropout_backward(dout, self.mask, self.dropout_ratio, self.inverted,
                                         self._pool)
